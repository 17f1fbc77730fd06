import React from 'react';
import {AbsoluteFill} from 'remotion';

/** Animated film grain: SVG fractal noise whose seed changes every frame. */
export const Grain: React.FC<{width: number; height: number; frame: number}> = ({width, height, frame}) => {
	const id = 'renderbot-grain';
	// keep the grain size roughly constant in *relative* terms across resolutions
	const baseFrequency = (0.9 * 720) / Math.max(360, Math.min(width, height)) * 0.8;
	return (
		<AbsoluteFill style={{pointerEvents: 'none', mixBlendMode: 'overlay', opacity: 0.55}}>
			<svg width={width} height={height}>
				<filter id={id} x="0" y="0" width="100%" height="100%">
					<feTurbulence type="fractalNoise" baseFrequency={baseFrequency.toFixed(3)} numOctaves={2} seed={frame % 997} stitchTiles="stitch" />
					<feColorMatrix type="saturate" values="0" />
				</filter>
				<rect width="100%" height="100%" filter={`url(#${id})`} />
			</svg>
		</AbsoluteFill>
	);
};

/** Radial darkening toward the edges. */
export const Vignette: React.FC = () => (
	<AbsoluteFill
		style={{
			pointerEvents: 'none',
			background: 'radial-gradient(ellipse at center, rgba(0,0,0,0) 42%, rgba(0,0,0,0.45) 72%, rgba(0,0,0,0.85) 100%)',
		}}
	/>
);

/** CRT scanlines with a slowly rolling bright band. */
export const Scanlines: React.FC<{height: number; frame: number}> = ({height, frame}) => {
	const line = Math.max(1, Math.round(height / 270));
	const band = ((frame * 0.01) % 1.4) * 100 - 20;
	return (
		<AbsoluteFill style={{pointerEvents: 'none'}}>
			<AbsoluteFill
				style={{
					backgroundImage: `repeating-linear-gradient(to bottom, rgba(0,0,0,0.42) 0px, rgba(0,0,0,0.42) ${line}px, rgba(0,0,0,0) ${line}px, rgba(0,0,0,0) ${line * 2}px)`,
				}}
			/>
			<AbsoluteFill
				style={{
					background: `linear-gradient(to bottom, rgba(255,255,255,0) ${band - 8}%, rgba(255,255,255,0.06) ${band}%, rgba(255,255,255,0) ${band + 8}%)`,
				}}
			/>
		</AbsoluteFill>
	);
};
