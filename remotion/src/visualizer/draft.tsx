import React from 'react';
import {AbsoluteFill} from 'remotion';

/**
 * The DRAFT mark of a draft render (prop `draft: true`): a solid band in the top-left
 * corner with "DRAFT" in its middle, drawn above every effect so nothing dims it.
 * Its place and colour are fixed (fractions of the frame) so tests can find it without
 * OCR: tests/drafts reads the band's colour at its left end, left of the text.
 */
export const DRAFT_BAND = {
	width: 0.4, // of the frame's width
	height: 0.18, // of the frame's height
	color: '#ffd400',
	text: '#111111',
} as const;

const FONT_STACK = '"DejaVu Sans", "Liberation Sans", "Helvetica Neue", Arial, sans-serif';

export const DraftMark: React.FC<{width: number; height: number}> = ({width, height}) => {
	const bandWidth = Math.round(width * DRAFT_BAND.width);
	const bandHeight = Math.max(8, Math.round(height * DRAFT_BAND.height));
	// the text stays within the band's middle half, so its ends are the plain colour
	const fontSize = Math.max(4, Math.min(bandHeight * 0.62, bandWidth * 0.13));
	return (
		<AbsoluteFill style={{pointerEvents: 'none'}}>
			<div
				style={{
					position: 'absolute',
					left: 0,
					top: 0,
					width: bandWidth,
					height: bandHeight,
					backgroundColor: DRAFT_BAND.color,
					display: 'flex',
					alignItems: 'center',
					justifyContent: 'center',
					fontFamily: FONT_STACK,
					fontWeight: 800,
					fontSize,
					letterSpacing: fontSize * 0.08,
					color: DRAFT_BAND.text,
					lineHeight: 1,
				}}
			>
				DRAFT
			</div>
		</AbsoluteFill>
	);
};
