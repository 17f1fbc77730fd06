// Still frames (issue 17): previews before a quote and every render's poster.
//
//   POST /stills {composition, inputProps, frame, outputPath (absolute, .jpg), jpegQuality?}
//     -> 200 {outputPath, width, height, frame, durationInFrames, ms}
//     -> 400 {error:{code:"bad_request"}} | 422 {error:{code:"frame_out_of_range"}}
//     -> 500 {error:{code:"still_failed", message, retryable}}
//
// Synchronous: the answer comes when the JPEG is on disk (written to a temp name, then
// renamed). Stills use the same warm bundle and browser as the render queue but do not
// wait behind it (one frame takes well under a second); at most MAX_STILLS run at once,
// the rest wait here.

import fsp from 'node:fs/promises';
import path from 'node:path';

import {renderStill, selectComposition} from '@remotion/renderer';

const MAX_STILLS = 2;

export const validateStill = (body) => {
	const problems = [];
	if (!body || typeof body !== 'object') return ['body must be a JSON object'];
	if (body.composition !== undefined && typeof body.composition !== 'string') problems.push('composition must be a string');
	if (!body.inputProps || typeof body.inputProps !== 'object' || Array.isArray(body.inputProps)) problems.push('inputProps must be an object');
	if (!Number.isInteger(body.frame) || body.frame < 0) problems.push('frame must be an integer >= 0');
	if (typeof body.outputPath !== 'string' || !path.isAbsolute(body.outputPath) || !/\.jpe?g$/.test(body.outputPath)) problems.push('outputPath must be an absolute path ending in .jpg');
	if (body.jpegQuality !== undefined && !(Number.isInteger(body.jpegQuality) && body.jpegQuality >= 1 && body.jpegQuality <= 100)) problems.push('jpegQuality must be an integer 1-100');
	return problems;
};

/** A handler for POST /stills over the server's bundle, browser and error classifier. */
export const makeStills = ({ensureBundle, ensureBrowser, chromium, chromiumOptions, logLevel, log, classify}) => {
	let running = 0;
	const waiting = [];
	const acquire = () => {
		if (running < MAX_STILLS) {
			running++;
			return Promise.resolve();
		}
		return new Promise((resolve) => waiting.push(resolve));
	};
	const release = () => {
		const next = waiting.shift();
		if (next) next();
		else running--;
	};

	const renderOne = async (body) => {
		const started = Date.now();
		const {serveUrl} = await ensureBundle();
		const b = await ensureBrowser();
		const composition = await selectComposition({
			serveUrl,
			id: body.composition || 'Visualizer',
			inputProps: body.inputProps,
			puppeteerInstance: b,
			browserExecutable: chromium,
			chromiumOptions,
			logLevel: logLevel === 'verbose' ? 'verbose' : 'error',
		});
		if (body.frame >= composition.durationInFrames) {
			return {status: 422, body: {error: {code: 'frame_out_of_range', message: `frame ${body.frame} is past the last frame (${composition.durationInFrames - 1})`}}};
		}
		await fsp.mkdir(path.dirname(body.outputPath), {recursive: true});
		const tmp = path.join(path.dirname(body.outputPath), `.${path.basename(body.outputPath)}.${process.pid}.${Date.now()}.partial.jpg`);
		try {
			await renderStill({
				serveUrl,
				composition,
				inputProps: body.inputProps,
				frame: body.frame,
				output: tmp,
				overwrite: true,
				imageFormat: 'jpeg',
				jpegQuality: body.jpegQuality ?? 85,
				puppeteerInstance: b,
				browserExecutable: chromium,
				chromiumOptions,
				logLevel: logLevel === 'verbose' ? 'verbose' : 'error',
			});
			await fsp.rename(tmp, body.outputPath);
		} catch (err) {
			await fsp.rm(tmp, {force: true}).catch(() => undefined);
			throw err;
		}
		log('info', 'still done', {frame: body.frame, ms: Date.now() - started});
		return {
			status: 200,
			body: {
				outputPath: body.outputPath,
				width: composition.width,
				height: composition.height,
				frame: body.frame,
				durationInFrames: composition.durationInFrames,
				ms: Date.now() - started,
			},
		};
	};

	return async (body) => {
		const problems = validateStill(body);
		if (problems.length > 0) return {status: 400, body: {error: {code: 'bad_request', message: problems.join('; ')}}};
		await acquire();
		try {
			return await renderOne(body);
		} catch (err) {
			const c = classify(err);
			log('warn', 'still failed', {retryable: c.retryable, error: c.message.split('\n')[0]});
			return {status: 500, body: {error: {code: 'still_failed', message: c.message, retryable: c.retryable}}};
		} finally {
			release();
		}
	};
};
