// TEST-ONLY compositions (see ./index.ts): the real Visualizer, registered under the
// same id, except that a title starting with one of these prefixes fails on purpose:
//
//   "crash: <text>"        calculateMetadata throws Error("<text>") from a nested call
//                           (a composition bug: a JavaScript error with a stack) -> permanent
//   "crash-render: <text>" the component throws while drawing frames -> permanent
//   "flaky: <text>"        calculateMetadata throws "Protocol error: Target closed (<text>)",
//                           the words of a crashed browser -> retryable
//
// Any other title renders exactly as the product does.
import React from 'react';
import {Composition, type CalculateMetadataFunction} from 'remotion';
import {Visualizer} from '../src/visualizer/Visualizer';
import {
	defaultVisualizerProps,
	parseVisualizerProps,
	visualizerSchema,
	type VisualizerProps,
} from '../src/visualizer/schema';

const after = (title: string, prefix: string): string | null =>
	title.startsWith(prefix) ? title.slice(prefix.length).trim() || 'test fault' : null;

const explode = (message: string): never => {
	throw new Error(message);
};

const calculateMetadata: CalculateMetadataFunction<VisualizerProps> = ({props}) => {
	const title = String((props as {title?: unknown}).title ?? '');
	const crash = after(title, 'crash:');
	if (crash !== null) explode(crash);
	const flaky = after(title, 'flaky:');
	if (flaky !== null) explode(`Protocol error: Target closed (${flaky})`);
	const parsed = parseVisualizerProps(props);
	return {
		width: parsed.width,
		height: parsed.height,
		fps: parsed.fps,
		durationInFrames: parsed.durationInFrames,
		props: parsed,
	};
};

const FaultyVisualizer: React.FC<Record<string, unknown>> = (props) => {
	const crash = after(String(props.title ?? ''), 'crash-render:');
	if (crash !== null) explode(crash);
	return <Visualizer {...props} />;
};

export const FaultyRoot: React.FC = () => (
	<Composition
		id="Visualizer"
		component={FaultyVisualizer as unknown as React.FC<VisualizerProps>}
		schema={visualizerSchema}
		defaultProps={defaultVisualizerProps}
		calculateMetadata={calculateMetadata}
		width={defaultVisualizerProps.width}
		height={defaultVisualizerProps.height}
		fps={defaultVisualizerProps.fps}
		durationInFrames={defaultVisualizerProps.durationInFrames}
	/>
);
