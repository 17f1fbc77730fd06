import {interpolateColors} from 'remotion';
import {z} from 'zod';

/** Effects the Visualizer knows how to draw. Order in the props does not matter. */
export const EFFECTS = ['grain', 'vignette', 'glow', 'scanlines'] as const;
export type Effect = (typeof EFFECTS)[number];

// A color is valid when Remotion's interpolateColors() understands it (hex,
// rgb()/rgba(), hsl()/hsla() and CSS named colors): the bars are colored with
// it, so anything it rejects would fail later with a less helpful message.
const isCssColor = (value: string): boolean => {
	try {
		interpolateColors(0, [0, 1], [value, value]);
		return true;
	} catch {
		return false;
	}
};

const cssColor = z.string().min(1).refine(isCssColor, {message: 'must be a CSS color'});

const evenDimension = z
	.number()
	.int()
	.min(16)
	.max(3840)
	.refine((n) => n % 2 === 0, {message: 'must be even (H.264 yuv420p needs even sizes)'});

export const visualizerSchema = z.object({
	title: z.string().max(200),
	subtitle: z.string().max(300).optional(),
	palette: z.array(cssColor).min(2, 'palette needs 2-5 colors').max(5, 'palette needs 2-5 colors'),
	background: cssColor,
	bars: z.number().int().min(4).max(256).optional(),
	seed: z.number().optional(),
	audioUrl: z.string().min(1).nullable().optional(),
	effects: z.array(z.enum(EFFECTS)),
	width: evenDimension,
	height: evenDimension,
	fps: z.number().int().min(1).max(120),
	durationInFrames: z.number().int().min(1).max(120 * 60 * 30),
	// a draft render (renderbot's `draft: true`): draws the DRAFT mark (./draft.tsx)
	draft: z.boolean().optional(),
});

export type VisualizerProps = z.infer<typeof visualizerSchema>;

export const DEFAULT_BARS = 48;

export const defaultVisualizerProps: VisualizerProps = {
	title: 'Creative Visualizer',
	subtitle: 'renderbot',
	palette: ['#ff3d7f', '#ffb347', '#3de1ff'],
	background: '#0b0b1a',
	bars: DEFAULT_BARS,
	seed: 7,
	audioUrl: null,
	effects: ['glow', 'vignette'],
	width: 1280,
	height: 720,
	fps: 30,
	durationInFrames: 90,
};

/**
 * Validates the props and returns them parsed, or throws an Error whose
 * message lists every problem. Called from calculateMetadata (so a bad render
 * request fails in selectComposition, before any frame is drawn) and from the
 * component itself (so a render that skips metadata still fails clearly).
 */
export const parseVisualizerProps = (input: unknown): VisualizerProps => {
	const result = visualizerSchema.safeParse(input);
	if (!result.success) {
		const problems = result.error.issues
			.map((issue) => `${issue.path.join('.') || '(props)'}: ${issue.message}`)
			.join('; ');
		throw new Error(`Invalid Visualizer props: ${problems}`);
	}
	return result.data;
};
