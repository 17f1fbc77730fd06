import React from 'react';
import {AbsoluteFill} from 'remotion';

/** Animated film grain: SVG fractal noise whose seed changes every frame. */
export const Grain: React.FC<{width: number; height: number; frame: number}> = ({width, height, frame}) => {
	const id = 'renderbot-grain';
	// about one grain per pixel or two, at every resolution
	const baseFrequency = Math.min(width, height) >= 720 ? 0.7 : 0.85;
	return (
		<AbsoluteFill style={{pointerEvents: 'none', mixBlendMode: 'overlay', opacity: 0.6}}>
			<svg width={width} height={height}>
				<filter id={id} x="0" y="0" width="100%" height="100%">
					<feTurbulence type="fractalNoise" baseFrequency={baseFrequency.toFixed(3)} numOctaves={2} seed={frame % 997} stitchTiles="stitch" />
					<feColorMatrix type="saturate" values="0" />
					{/* fractal noise hovers around mid-grey, which "overlay" leaves unchanged: stretch its contrast */}
					<feComponentTransfer>
						<feFuncR type="linear" slope={3.2} intercept={-1.1} />
						<feFuncG type="linear" slope={3.2} intercept={-1.1} />
						<feFuncB type="linear" slope={3.2} intercept={-1.1} />
						<feFuncA type="linear" slope={0} intercept={1} />
					</feComponentTransfer>
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
