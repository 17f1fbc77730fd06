// The render queue: FIFO, at most maxParallel renders at once on the shared bundle and
// browser, each with a watchdog (a dead browser or a stalled render is aborted as a
// retryable failure), written to a temp name and renamed when done.

import fsp from 'node:fs/promises';
import path from 'node:path';

import {makeCancelSignal, renderMedia, selectComposition} from '@remotion/renderer';

import {browserAlive} from './browser.mjs';
import {CancelledError, RenderError, classify} from './errors.mjs';

export const makeRenderQueue = ({
	ensureBundle, ensureBrowser, browsers, log, chromium: CHROMIUM, chromiumOptions: CHROMIUM_OPTIONS,
	logLevel: LOG_LEVEL, maxParallel: MAX_PARALLEL, keepRecords: KEEP_RECORDS,
	defaultConcurrency: DEFAULT_CONCURRENCY, stallMs: STALL_MS,
}) => {
	/** @type {Map<string, any>} */
	const renders = new Map();
	/** @type {string[]} FIFO of queued render ids */
	const queue = [];
	let rendering = 0;

	const statusOf = (r) => ({
		id: r.id,
		state: r.state,
		progress: r.progress,
		queuePosition: r.state === 'queued' ? queue.indexOf(r.id) + 1 : 0,
		framesRendered: r.framesRendered,
		totalFrames: r.totalFrames,
		etaSeconds: r.etaSeconds,
		outputPath: r.state === 'done' ? r.outputPath : null,
		error: r.error,
		bundle: r.bundle,
		createdAt: r.createdAt,
		startedAt: r.startedAt,
		finishedAt: r.finishedAt,
	});

	const submit = (body) => {
		const existing = renders.get(body.id);
		if (existing) {
			return {created: false, record: existing};
		}
		const record = {
			id: body.id,
			request: {
				composition: body.composition || 'Visualizer',
				inputProps: body.inputProps,
				outputPath: body.outputPath,
				codec: body.codec || 'h264',
				crf: body.crf ?? null,
				x264Preset: body.x264Preset ?? null,
				audioBitrate: body.audioBitrate ?? null,
				pixelFormat: body.pixelFormat || 'yuv420p',
				concurrency: body.concurrency ?? null,
			},
			state: 'queued',
			progress: 0,
			framesRendered: 0,
			totalFrames: 0,
			etaSeconds: null,
			outputPath: body.outputPath,
			error: null,
			bundle: null,
			createdAt: new Date().toISOString(),
			startedAt: null,
			finishedAt: null,
			cancel: null,
			cancelRequested: false,
		};
		renders.set(record.id, record);
		queue.push(record.id);
		pruneRecords();
		setImmediate(pump);
		return {created: true, record};
	};

	const pruneRecords = () => {
		if (renders.size <= KEEP_RECORDS) return;
		for (const [id, r] of renders) {
			if (renders.size <= KEEP_RECORDS) break;
			if (['done', 'failed', 'cancelled'].includes(r.state)) renders.delete(id);
		}
	};

	const cancel = async (record) => {
		if (record.state === 'queued') {
			const idx = queue.indexOf(record.id);
			if (idx >= 0) queue.splice(idx, 1);
			finish(record, 'cancelled');
		} else if (record.state === 'rendering') {
			record.cancelRequested = true;
			if (record.cancel) record.cancel();
			// wait (bounded) for the render loop to clean up, so the caller sees "cancelled"
			const deadline = Date.now() + 15000;
			while (record.state === 'rendering' && Date.now() < deadline) {
				await new Promise((r) => setTimeout(r, 50));
			}
		}
		return record;
	};

	const finish = (record, state, error = null) => {
		record.state = state;
		record.error = error;
		record.finishedAt = new Date().toISOString();
		record.cancel = null;
		if (state === 'done') {
			record.progress = 1;
			record.etaSeconds = 0;
		} else {
			record.etaSeconds = null;
		}
	};

	const pump = () => {
		while (rendering < MAX_PARALLEL && queue.length > 0) {
			const id = queue.shift();
			const record = renders.get(id);
			if (!record || record.state !== 'queued') continue;
			rendering++;
			record.state = 'rendering';
			record.startedAt = new Date().toISOString();
			runRender(record)
				.catch((err) => log('error', 'render loop crashed', {id, error: String(err?.stack || err)}))
				.finally(() => {
					rendering--;
					setImmediate(pump);
				});
		}
	};

	const tempPathFor = (outputPath, id) => {
		const dir = path.dirname(outputPath);
		const safe = id.replace(/[^A-Za-z0-9._-]/g, '_');
		// must keep the extension (.mp4, .webm, .gif): Remotion picks the muxer (and faststart) from it
		const ext = path.extname(outputPath);
		return path.join(dir, `.${path.basename(outputPath, ext)}.${safe}.partial${ext}`);
	};

	const runRender = async (record) => {
		const req = record.request;
		const tmp = tempPathFor(req.outputPath, record.id);
		const started = Date.now();
		const throwIfCancelled = () => {
			if (record.cancelRequested) throw new CancelledError('cancelled');
		};
		let watchdog = null;
		let watchdogReason = null;
		try {
			await fsp.mkdir(path.dirname(req.outputPath), {recursive: true});
			const {serveUrl, hash} = await ensureBundle();
			record.bundle = hash;
			throwIfCancelled();

			const b = await ensureBrowser();
			throwIfCancelled();

			let composition;
			try {
				composition = await selectComposition({
					serveUrl,
					id: req.composition,
					inputProps: req.inputProps,
					puppeteerInstance: b,
					browserExecutable: CHROMIUM,
					chromiumOptions: CHROMIUM_OPTIONS,
					logLevel: LOG_LEVEL === 'verbose' ? 'verbose' : 'error',
				});
			} catch (err) {
				const c = classify(err);
				// a composition that cannot be selected is permanent unless the browser itself failed
				const selectError = new RenderError(`Could not select composition "${req.composition}": ${c.message}`, c.retryable);
				selectError.detail = c.stack;
				throw selectError;
			}
			record.totalFrames = composition.durationInFrames;
			const selectedAt = Date.now();
			throwIfCancelled();

			const {cancelSignal, cancel: doCancel} = makeCancelSignal();
			record.cancel = doCancel;
			if (record.cancelRequested) doCancel();

			// Watchdog: renderMedia() waits forever if Chromium dies under it, and a
			// hung frame never reports. Abort both as retryable failures.
			let lastProgressAt = Date.now();
			let lastProgressKey = '';
			let watchdogBusy = false;
			watchdog = setInterval(async () => {
				if (watchdogBusy || watchdogReason) return;
				watchdogBusy = true;
				try {
					if (!(await browserAlive(b))) {
						watchdogReason = 'Browser crashed or closed during the render (Target closed)';
					} else if (Date.now() - lastProgressAt > STALL_MS) {
						watchdogReason = `Render timed out: no progress for ${Math.round(STALL_MS / 1000)} s`;
					}
					if (watchdogReason) {
						log('warn', 'aborting render', {id: record.id, reason: watchdogReason});
						doCancel();
					}
				} finally {
					watchdogBusy = false;
				}
			}, 1000);

			await renderMedia({
				serveUrl,
				composition,
				inputProps: req.inputProps,
				codec: req.codec,
				outputLocation: tmp,
				overwrite: true,
				crf: req.crf,
				x264Preset: req.x264Preset,
				audioBitrate: req.codec === 'gif' ? null : req.audioBitrate, // a GIF has no audio
				pixelFormat: req.codec === 'gif' ? undefined : req.pixelFormat,
				// limited-range BT.709, tagged: what social platforms expect (Remotion's
				// "default" leaves x264 to emit full-range yuvj420p from the JPEG frames)
				colorSpace: 'bt709',
				concurrency: req.concurrency ?? DEFAULT_CONCURRENCY,
				puppeteerInstance: b,
				browserExecutable: CHROMIUM,
				chromiumOptions: CHROMIUM_OPTIONS,
				cancelSignal,
				logLevel: LOG_LEVEL === 'verbose' ? 'verbose' : 'error',
				onProgress: ({progress, renderedFrames, encodedFrames, stitchStage}) => {
					const key = `${renderedFrames}/${encodedFrames}/${stitchStage}`;
					if (key !== lastProgressKey) {
						lastProgressKey = key;
						lastProgressAt = Date.now();
					}
					record.progress = Math.min(0.999, Math.max(record.progress, progress));
					record.framesRendered = renderedFrames;
					const elapsed = (Date.now() - started) / 1000;
					record.etaSeconds = record.progress > 0.02 ? Math.max(0, (elapsed * (1 - record.progress)) / record.progress) : null;
				},
			});
			clearInterval(watchdog);
			throwIfCancelled();
			await fsp.rename(tmp, req.outputPath);
			record.framesRendered = record.totalFrames;
			finish(record, 'done');
			log('info', 'render done', {
				id: record.id,
				ms: Date.now() - started,
				prepareMs: selectedAt - started,
				renderMs: Date.now() - selectedAt,
				frames: record.totalFrames,
			});
		} catch (caught) {
			clearInterval(watchdog);
			let err = caught;
			await fsp.rm(tmp, {force: true}).catch(() => undefined);
			if (watchdogReason && !record.cancelRequested) {
				err = new RenderError(watchdogReason, true);
			}
			if (record.cancelRequested || err instanceof CancelledError) {
				finish(record, 'cancelled');
				log('info', 'render cancelled', {id: record.id});
				return;
			}
			const c = classify(err);
			finish(record, 'failed', c);
			log('warn', 'render failed', {id: record.id, retryable: c.retryable, error: c.message.split('\n')[0]});
			if (c.retryable) await browsers.dropIfDead(); // the next render gets a fresh one
		}
	};

	return {
		submit,
		cancel,
		statusOf,
		get: (id) => renders.get(id),
		counts: () => ({queued: queue.length, rendering}),
		/** Shutting down: abort every render in progress (each ends "cancelled"). */
		abortAll: () => {
			for (const r of renders.values()) {
				if (r.state === 'rendering') {
					r.cancelRequested = true;
					r.cancel?.();
				}
			}
		},
	};
};
