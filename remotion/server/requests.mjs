// What POST /renders accepts: the codecs, their output extensions and crf ranges.

import path from 'node:path';

// codec -> the output file's extension (Remotion picks the muxer from it) and its crf range
const CODECS = new Map([['h264', {ext: '.mp4', crf: [1, 51]}], ['vp9', {ext: '.webm', crf: [0, 63]}], ['gif', {ext: '.gif', crf: null}]]);
const PIXEL_FORMATS = new Set(['yuv420p']);
const X264_PRESETS = new Set(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo']);

export const validateRequest = (body) => {
	const problems = [];
	if (!body || typeof body !== 'object') return ['body must be a JSON object'];
	if (typeof body.id !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(body.id)) problems.push('id must be 1-128 chars of [A-Za-z0-9._:-]');
	if (body.composition !== undefined && typeof body.composition !== 'string') problems.push('composition must be a string');
	if (!body.inputProps || typeof body.inputProps !== 'object' || Array.isArray(body.inputProps)) problems.push('inputProps must be an object');
	const codec = CODECS.get(body.codec === undefined ? 'h264' : body.codec);
	if (!codec) problems.push(`codec must be one of ${[...CODECS.keys()]}`);
	if (typeof body.outputPath !== 'string' || !path.isAbsolute(body.outputPath) || (codec && !body.outputPath.endsWith(codec.ext))) problems.push(`outputPath must be an absolute path ending in ${codec ? codec.ext : 'the codec\'s extension'}`);
	if (body.pixelFormat !== undefined && !PIXEL_FORMATS.has(body.pixelFormat)) problems.push(`pixelFormat must be one of ${[...PIXEL_FORMATS]}`);
	if (codec && body.crf !== undefined && body.crf !== null && !(codec.crf && Number.isInteger(body.crf) && body.crf >= codec.crf[0] && body.crf <= codec.crf[1])) problems.push(codec.crf ? `crf must be an integer ${codec.crf[0]}-${codec.crf[1]}` : 'crf must be null for this codec');
	if (body.x264Preset !== undefined && body.x264Preset !== null && !X264_PRESETS.has(body.x264Preset)) problems.push('x264Preset is not a valid x264 preset');
	if (body.x264Preset !== undefined && body.x264Preset !== null && body.codec !== undefined && body.codec !== 'h264') problems.push('x264Preset is only for h264');
	if (body.audioBitrate !== undefined && body.audioBitrate !== null && !/^\d+(\.\d+)?[kKmM]?$/.test(String(body.audioBitrate))) problems.push('audioBitrate must look like "128k"');
	if (body.concurrency !== undefined && body.concurrency !== null && !(Number.isInteger(body.concurrency) && body.concurrency >= 1 && body.concurrency <= 16)) problems.push('concurrency must be an integer 1-16');
	return problems;
};
