import {useAudioData, visualizeAudio} from '@remotion/media-utils';
import React, {useMemo} from 'react';
import {
	AbsoluteFill,
	Html5Audio,
	interpolate,
	interpolateColors,
	random,
	spring,
	useCurrentFrame,
	useVideoConfig,
} from 'remotion';
import {DraftMark} from './draft';
import {Grain, Scanlines, Vignette} from './effects';
import {DEFAULT_BARS, parseVisualizerProps, type VisualizerProps} from './schema';

type Layout = 'landscape' | 'portrait' | 'square';

/** 16:9-ish → a horizontal spectrum; 9:16-ish → title on top, ring below; 1:1 → ring around the title. */
export const layoutFor = (width: number, height: number): Layout => {
	const aspect = width / height;
	if (aspect >= 1.25) {
		return 'landscape';
	}
	if (aspect <= 0.8) {
		return 'portrait';
	}
	return 'square';
};

const FONT_STACK = '"DejaVu Sans", "Liberation Sans", "Helvetica Neue", Arial, sans-serif';

/** Deterministic "music-like" bar levels (0..1) for renders without audio. */
const proceduralLevels = (count: number, seed: number, time: number): number[] => {
	const levels: number[] = [];
	for (let i = 0; i < count; i++) {
		const x = i / Math.max(1, count - 1);
		const f1 = 0.6 + random(`${seed}-f1-${i}`) * 1.8;
		const f2 = 1.7 + random(`${seed}-f2-${i}`) * 3.1;
		const p1 = random(`${seed}-p1-${i}`) * Math.PI * 2;
		const p2 = random(`${seed}-p2-${i}`) * Math.PI * 2;
		// a slow "beat" that travels across the bars
		const beat = Math.max(0, Math.sin(time * Math.PI * 2 * 0.9 - x * 4 + seed));
		const wave =
			0.45 * (0.5 + 0.5 * Math.sin(time * f1 * Math.PI * 2 + p1)) +
			0.25 * (0.5 + 0.5 * Math.sin(time * f2 * Math.PI * 2 + p2)) +
			0.3 * beat ** 3;
		// spectra are louder in the lows
		const tilt = 1 - 0.45 * x;
		levels.push(Math.min(1, 0.08 + wave * tilt));
	}
	return levels;
};

const SPECTRUM_SAMPLES = 512;

/**
 * Bar levels from the audio's spectrum at the current frame. visualizeAudio()
 * returns linearly spaced frequency bins (0 Hz → Nyquist); music lives in the
 * first few, so bars take log-spaced bands (~40 Hz → ~16 kHz at 44.1 kHz) and
 * show each band's peak on a decibel scale.
 */
const useAudioLevels = (audioUrl: string, count: number): number[] => {
	const frame = useCurrentFrame();
	const {fps} = useVideoConfig();
	// useAudioData holds the render (delayRender) until the file is decoded.
	const audioData = useAudioData(audioUrl);
	if (!audioData) {
		return new Array(count).fill(0.05);
	}
	const samples = visualizeAudio({
		fps,
		frame,
		audioData,
		numberOfSamples: SPECTRUM_SAMPLES,
		optimizeFor: 'speed',
		smoothing: true,
	});
	const first = 1;
	const last = Math.floor(SPECTRUM_SAMPLES * 0.72);
	return new Array(count).fill(0).map((_, i) => {
		const lo = Math.floor(first * (last / first) ** (i / count));
		const hi = Math.max(lo + 1, Math.floor(first * (last / first) ** ((i + 1) / count)));
		let peak = 0;
		for (let k = lo; k < hi; k++) {
			peak = Math.max(peak, samples[k] ?? 0);
		}
		// -60 dB → 0, 0 dB → 1
		const db = 20 * Math.log10(Math.max(peak, 1e-6));
		return Math.min(1, Math.max(0.04, (db + 60) / 60));
	});
};

const AudioScene: React.FC<{props: VisualizerProps; audioUrl: string}> = ({props, audioUrl}) => {
	const levels = useAudioLevels(audioUrl, props.bars ?? DEFAULT_BARS);
	return (
		<>
			<Scene props={props} levels={levels} />
			<Html5Audio src={audioUrl} />
		</>
	);
};

const ProceduralScene: React.FC<{props: VisualizerProps}> = ({props}) => {
	const frame = useCurrentFrame();
	const {fps} = useVideoConfig();
	const levels = proceduralLevels(props.bars ?? DEFAULT_BARS, props.seed ?? 0, frame / fps);
	return <Scene props={props} levels={levels} />;
};

type BarsProps = {
	levels: number[];
	colors: string[];
	width: number;
	height: number;
	layout: Layout;
	intro: number;
	glow: boolean;
	glowColor: string;
};

const Bars: React.FC<BarsProps> = ({levels, colors, width, height, layout, intro, glow, glowColor}) => {
	const minDim = Math.min(width, height);
	const count = levels.length;
	// one blur pass: each drop-shadow() is a full-frame blur on the CPU raster path
	const filter = glow ? `drop-shadow(0 0 ${(minDim * 0.02).toFixed(1)}px ${glowColor})` : undefined;

	if (layout === 'landscape') {
		const left = width * 0.06;
		const usable = width - left * 2;
		const slot = usable / count;
		const barWidth = Math.max(1, slot * 0.62);
		const baseline = height * 0.74;
		const maxHeight = height * 0.42;
		return (
			<svg width={width} height={height} style={{position: 'absolute', inset: 0, filter}}>
				{levels.map((level, i) => {
					const h = Math.max(barWidth, level * maxHeight * intro);
					const x = left + i * slot + (slot - barWidth) / 2;
					return (
						<g key={i}>
							<rect x={x} y={baseline - h} width={barWidth} height={h} rx={barWidth / 2} fill={colors[i]} />
							{/* reflection */}
							<rect
								x={x}
								y={baseline + barWidth * 0.6}
								width={barWidth}
								height={h * 0.35}
								rx={barWidth / 2}
								fill={colors[i]}
								opacity={0.22}
							/>
						</g>
					);
				})}
			</svg>
		);
	}

	// ring layouts: bars radiate out of a circle
	const cx = width / 2;
	const cy = layout === 'portrait' ? height * 0.58 : height / 2;
	const inner = layout === 'portrait' ? width * 0.26 : minDim * 0.26;
	const maxLen = layout === 'portrait' ? width * 0.17 : minDim * 0.17;
	const circumference = 2 * Math.PI * inner;
	const strokeWidth = Math.max(1, (circumference / count) * 0.55);
	return (
		<svg width={width} height={height} style={{position: 'absolute', inset: 0, filter}}>
			<circle cx={cx} cy={cy} r={inner * 0.96} fill="none" stroke={colors[0]} strokeOpacity={0.35} strokeWidth={Math.max(1, minDim * 0.004)} />
			{levels.map((level, i) => {
				const angle = (i / count) * Math.PI * 2 - Math.PI / 2;
				const len = Math.max(strokeWidth, level * maxLen * intro);
				const cos = Math.cos(angle);
				const sin = Math.sin(angle);
				return (
					<line
						key={i}
						x1={cx + cos * inner}
						y1={cy + sin * inner}
						x2={cx + cos * (inner + len)}
						y2={cy + sin * (inner + len)}
						stroke={colors[i]}
						strokeWidth={strokeWidth}
						strokeLinecap="round"
					/>
				);
			})}
		</svg>
	);
};

const Backdrop: React.FC<{background: string; palette: string[]; time: number}> = ({background, palette, time}) => {
	const a = palette[0];
	const b = palette[palette.length - 1];
	const x1 = 30 + 12 * Math.sin(time * 0.35);
	const y1 = 30 + 10 * Math.cos(time * 0.27);
	const x2 = 70 + 12 * Math.cos(time * 0.31);
	const y2 = 70 + 10 * Math.sin(time * 0.23);
	return (
		<AbsoluteFill
			style={{
				backgroundColor: background,
				backgroundImage: [
					`radial-gradient(circle at ${x1}% ${y1}%, color-mix(in srgb, ${a} 28%, transparent) 0%, transparent 55%)`,
					`radial-gradient(circle at ${x2}% ${y2}%, color-mix(in srgb, ${b} 24%, transparent) 0%, transparent 60%)`,
				].join(', '),
			}}
		/>
	);
};

type TitleProps = {
	title: string;
	subtitle?: string;
	width: number;
	height: number;
	layout: Layout;
	appear: number;
	glow: boolean;
	glowColor: string;
	accent: string;
};

const Title: React.FC<TitleProps> = ({title, subtitle, width, height, layout, appear, glow, glowColor, accent}) => {
	const minDim = Math.min(width, height);
	// shrink long titles so they stay on ~2 lines
	const lengthFactor = Math.min(1, 18 / Math.max(8, title.length));
	const base = layout === 'landscape' ? height * 0.11 : layout === 'portrait' ? width * 0.1 : minDim * 0.075;
	const fontSize = Math.max(10, base * (0.55 + 0.45 * lengthFactor));
	const boxWidth = layout === 'square' ? minDim * 0.46 : width * 0.88;
	const top = layout === 'landscape' ? height * 0.1 : layout === 'portrait' ? height * 0.12 : 0;
	const textShadow = glow
		? `0 0 ${(fontSize * 0.15).toFixed(1)}px ${glowColor}, 0 0 ${(fontSize * 0.45).toFixed(1)}px ${glowColor}, 0 0 ${(fontSize * 0.9).toFixed(1)}px ${glowColor}`
		: `0 ${(fontSize * 0.04).toFixed(1)}px ${(fontSize * 0.12).toFixed(1)}px rgba(0,0,0,0.45)`;
	return (
		<AbsoluteFill
			style={{
				justifyContent: layout === 'square' ? 'center' : 'flex-start',
				alignItems: 'center',
				paddingTop: top,
				opacity: appear,
				transform: `translateY(${(1 - appear) * fontSize * 0.5}px)`,
			}}
		>
			<div style={{width: boxWidth, textAlign: 'center', fontFamily: FONT_STACK, color: 'white'}}>
				<div
					style={{
						fontSize,
						fontWeight: 800,
						lineHeight: 1.08,
						letterSpacing: -fontSize * 0.01,
						textShadow,
						overflowWrap: 'break-word',
					}}
				>
					{title}
				</div>
				{subtitle ? (
					<div
						style={{
							marginTop: fontSize * 0.3,
							fontSize: fontSize * 0.38,
							fontWeight: 500,
							letterSpacing: fontSize * 0.04,
							textTransform: 'uppercase',
							color: accent,
							textShadow: glow ? `0 0 ${(fontSize * 0.3).toFixed(1)}px ${glowColor}` : undefined,
						}}
					>
						{subtitle}
					</div>
				) : null}
			</div>
		</AbsoluteFill>
	);
};

export const Visualizer: React.FC<Record<string, unknown>> = (rawProps) => {
	// Throws a clear Error on invalid props: Remotion turns that into a failed
	// render, which is a permanent error.
	const props = useMemo(() => parseVisualizerProps(rawProps), [rawProps]);
	if (props.audioUrl) {
		return <AudioScene props={props} audioUrl={props.audioUrl} />;
	}
	return <ProceduralScene props={props} />;
};

const Scene: React.FC<{props: VisualizerProps; levels: number[]}> = ({props, levels}) => {
	const frame = useCurrentFrame();
	const {fps, width, height} = useVideoConfig();
	const layout = layoutFor(width, height);
	const count = levels.length;
	const effects = new Set(props.effects);
	const glow = effects.has('glow');

	const colors = useMemo(() => {
		const stops = props.palette.map((_, i) => i / (props.palette.length - 1));
		return new Array(count)
			.fill(0)
			.map((_, i) => interpolateColors(count === 1 ? 0 : i / (count - 1), stops, props.palette));
	}, [props.palette, count]);

	const appear = spring({frame, fps, config: {damping: 200}, durationInFrames: Math.round(fps * 0.6)});
	const intro = interpolate(frame, [0, fps * 0.5], [0.35, 1], {extrapolateRight: 'clamp'});
	const glowColor = props.palette[Math.min(1, props.palette.length - 1)];
	const accent = props.palette[props.palette.length - 1];

	return (
		<AbsoluteFill style={{overflow: 'hidden'}}>
			<Backdrop background={props.background} palette={props.palette} time={frame / fps} />
			<Bars
				levels={levels}
				colors={colors}
				width={width}
				height={height}
				layout={layout}
				intro={intro}
				glow={glow}
				glowColor={glowColor}
			/>
			<Title
				title={props.title}
				subtitle={props.subtitle}
				width={width}
				height={height}
				layout={layout}
				appear={appear}
				glow={glow}
				glowColor={glowColor}
				accent={accent}
			/>
			{effects.has('scanlines') ? <Scanlines height={height} frame={frame} /> : null}
			{effects.has('vignette') ? <Vignette /> : null}
			{effects.has('grain') ? <Grain width={width} height={height} frame={frame} /> : null}
			{props.draft ? <DraftMark width={width} height={height} /> : null}
		</AbsoluteFill>
	);
};
