import React from 'react';
import {AbsoluteFill, random} from 'remotion';

const GRAIN_TILE = 256;
let grainTileUrl: string | null = null;

/**
 * One 256x256 tile of contrasty grey noise, made once per page with a canvas
 * (deterministic: a fixed-seed LCG). Drawing it is far cheaper than running an
 * SVG feTurbulence filter over the whole frame on every frame.
 */
const getGrainTile = (): string => {
	if (grainTileUrl) {
		return grainTileUrl;
	}
	const canvas = document.createElement('canvas');
	canvas.width = GRAIN_TILE;
	canvas.height = GRAIN_TILE;
	const ctx = canvas.getContext('2d');
	if (!ctx) {
		throw new Error('Visualizer: 2D canvas unavailable for the grain effect');
	}
	const image = ctx.createImageData(GRAIN_TILE, GRAIN_TILE);
	let state = 0x2f6b1d;
	for (let i = 0; i < image.data.length; i += 4) {
		state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
		// sum of two uniforms: a soft, centred distribution, then stretched
		const a = (state & 0xffff) / 0xffff;
		const b = (state >>> 16) / 0xffff;
		const v = Math.max(0, Math.min(255, 128 + ((a + b) / 2 - 0.5) * 2 * 150));
		image.data[i] = v;
		image.data[i + 1] = v;
		image.data[i + 2] = v;
		image.data[i + 3] = 255;
	}
	ctx.putImageData(image, 0, 0);
	grainTileUrl = canvas.toDataURL('image/png');
	return grainTileUrl;
};

/** Animated film grain: a noise tile overlaid at a new random offset every frame. */
export const Grain: React.FC<{width: number; height: number; frame: number}> = ({width, height, frame}) => {
	const tile = getGrainTile();
	// grains of ~1px up to 720p, a little bigger above so they survive encoding
	const scale = Math.min(width, height) > 720 ? 1.5 : 1;
	const size = GRAIN_TILE * scale;
	const dx = Math.floor(random(`grain-x-${frame}`) * size);
	const dy = Math.floor(random(`grain-y-${frame}`) * size);
	return (
		<AbsoluteFill
			style={{
				pointerEvents: 'none',
				mixBlendMode: 'overlay',
				opacity: 0.6,
				backgroundImage: `url(${tile})`,
				backgroundSize: `${size}px ${size}px`,
				backgroundPosition: `${dx}px ${dy}px`,
				imageRendering: 'pixelated',
			}}
		/>
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
