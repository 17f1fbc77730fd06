import React from 'react';
import {Composition, type CalculateMetadataFunction} from 'remotion';
import {Visualizer} from './visualizer/Visualizer';
import {defaultVisualizerProps, parseVisualizerProps, visualizerSchema, type VisualizerProps} from './visualizer/schema';

/**
 * Size, frame rate and length come from the props, so the local render server
 * and Remotion Lambda (which both call selectComposition / calculateMetadata)
 * always agree on them. Invalid props throw here, before any frame is drawn.
 */
const calculateMetadata: CalculateMetadataFunction<VisualizerProps> = ({props}) => {
	const parsed = parseVisualizerProps(props);
	return {
		width: parsed.width,
		height: parsed.height,
		fps: parsed.fps,
		durationInFrames: parsed.durationInFrames,
		props: parsed,
	};
};

export const RemotionRoot: React.FC = () => (
	<Composition
		id="Visualizer"
		component={Visualizer as unknown as React.FC<VisualizerProps>}
		schema={visualizerSchema}
		defaultProps={defaultVisualizerProps}
		calculateMetadata={calculateMetadata}
		width={defaultVisualizerProps.width}
		height={defaultVisualizerProps.height}
		fps={defaultVisualizerProps.fps}
		durationInFrames={defaultVisualizerProps.durationInFrames}
	/>
);
