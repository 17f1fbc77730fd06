#!/usr/bin/env node
// renderbot local render server.
//
// A long-lived Node process that keeps one Remotion bundle and one Chromium
// open and renders requests one after another (or --max-parallel at a time)
// from a FIFO queue. It speaks JSON over HTTP on a UNIX socket:
//
//   GET  /health               -> {ok, version, bundle, queued, rendering, pid}
//   POST /renders              -> 202 {id, state:"queued", ...status} (200 + current status if the id exists)
//   GET  /renders/:id          -> status, or 404 {error:{code:"not_found"}}
//   POST /renders/:id/cancel   -> status after cancelling (queued: removed; rendering: aborted, partial file deleted)
//   POST /stills               -> 200 {outputPath, width, height, ...}: one JPEG frame (server/stills.mjs)
//
// Usage: node server/render-server.mjs --socket PATH --cache-dir DIR [--max-parallel N]
//        [--stall-timeout SECONDS (120)] [--idle-exit SECONDS (0 = never)] [--log-level info]
//        [--entry-point FILE (src/index.ts)] [--parent-pid PID (exit when it is gone)]
//
// Chromium's profile and Remotion's temp files go to <socket dir>/run/<pid>/ (TMPDIR):
// the socket's directory is a short private runtime dir (core/render/runtime_dir.py),
// so Chromium's own Unix sockets stay below the 107-byte sun_path limit whatever the
// cache dir's (checkout's, var dir's) path. The cache dir only holds bundles.
// Prints one JSON line {"ready":true,...} on stdout once listening; logs go to stderr.

import {createHash, randomUUID} from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';

import {bundle} from '@remotion/bundler';
import {makeCancelSignal, openBrowser, renderMedia, selectComposition} from '@remotion/renderer';

import {makeStills} from './stills.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.resolve(HERE, '..');
const SRC_DIR = path.join(PROJECT_DIR, 'src');
const REQUIRED_VERSION_PACKAGE = 'remotion';

// ---------------------------------------------------------------- arguments

const {values: args} = parseArgs({
	options: {
		socket: {type: 'string'},
		'cache-dir': {type: 'string'},
		'max-parallel': {type: 'string', default: '1'},
		'log-level': {type: 'string', default: process.env.RENDERBOT_RENDER_LOG_LEVEL || 'info'},
		'keep-records': {type: 'string', default: '1000'},
		'stall-timeout': {type: 'string', default: '120'},
		'idle-exit': {type: 'string', default: '0'},
		'entry-point': {type: 'string'},
		'parent-pid': {type: 'string', default: '0'},
	},
	strict: true,
});

if (!args.socket || !args['cache-dir']) {
	process.stderr.write('usage: render-server.mjs --socket PATH --cache-dir DIR [--max-parallel N]\n');
	process.exit(2);
}

const SOCKET_PATH = path.resolve(args.socket);
const CACHE_DIR = path.resolve(args['cache-dir']);
// The Remotion entry to bundle. Tests bundle remotion/testing/index.ts (compositions that
// fail on purpose); the product always bundles src/index.ts.
const ENTRY_POINT = path.resolve(args['entry-point'] || path.join(SRC_DIR, 'index.ts'));
const ENTRY_DIR = path.dirname(ENTRY_POINT);
// the worker that started us: when it is gone (even kill -9), we go too
const PARENT_PID = Number.parseInt(args['parent-pid'], 10) || 0;
const MAX_PARALLEL = Math.max(1, Number.parseInt(args['max-parallel'], 10) || 1);
const KEEP_RECORDS = Math.max(10, Number.parseInt(args['keep-records'], 10) || 1000);
const LOG_LEVEL = args['log-level'];
// a render with no progress for this long is aborted as a (retryable) timeout
const STALL_MS = Math.max(5, Number.parseFloat(args['stall-timeout']) || 120) * 1000;
// exit after this many idle seconds (no request, nothing queued or rendering); 0 = never
const IDLE_EXIT_MS = Math.max(0, Number.parseFloat(args['idle-exit']) || 0) * 1000;
let lastActivityAt = Date.now();
const CHROMIUM = process.env.RENDERBOT_CHROMIUM || '/usr/bin/chromium-headless-shell';
// Browser tabs per render when a request names none: the cores shared by the renders
// that may run at once (2 on a 2-core machine with --max-parallel 1). Remotion's own
// default is half the cores; with chromium-headless-shell all cores rendered the 3 s 720p
// benchmark clip ~1.4x faster (benchmarks/local_render.py, README "Local renders").
const DEFAULT_CONCURRENCY = Math.max(1, Math.min(8, Math.floor(os.availableParallelism() / MAX_PARALLEL)));

// The machine has no internet: Remotion already launches Chromium headless with
// --no-sandbox, --disable-setuid-sandbox, --disable-background-networking,
// --disable-component-update, --no-pings, --disable-sync, --disable-domain-reliability,
// --no-proxy-server... (see @remotion/renderer open-browser.js). What we can choose:
const CHROMIUM_OPTIONS = {
	// null = Chromium's own choice (CPU raster on a machine without a GPU), the same
	// as `npx remotion render`. "swangle" (ANGLE on SwiftShader) emulates a GPU in
	// software and made our CSS blur/drop-shadow frames ~2.5x slower; set
	// RENDERBOT_CHROMIUM_GL=swangle (or angle/egl/vulkan) only for WebGL content.
	gl: process.env.RENDERBOT_CHROMIUM_GL || null,
	headless: true,
	enableMultiProcessOnLinux: true,
	ignoreCertificateErrors: false,
};

const log = (level, message, extra) => {
	const line = {t: new Date().toISOString(), level, msg: message, ...(extra ?? {})};
	process.stderr.write(`${JSON.stringify(line)}\n`);
};

// ---------------------------------------------------------------- versions

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** Versions of every Remotion package installed, refusing to start on drift. */
const collectVersions = () => {
	const nm = path.join(PROJECT_DIR, 'node_modules');
	const versions = {};
	for (const name of ['remotion', 'react', 'react-dom', 'zod']) {
		versions[name] = readJson(path.join(nm, name, 'package.json')).version;
	}
	for (const dir of fs.readdirSync(path.join(nm, '@remotion'))) {
		versions[`@remotion/${dir}`] = readJson(path.join(nm, '@remotion', dir, 'package.json')).version;
	}
	const expected = versions[REQUIRED_VERSION_PACKAGE];
	const drift = Object.entries(versions).filter(
		([name, version]) => (name === 'remotion' || name.startsWith('@remotion/')) && version !== expected,
	);
	if (drift.length > 0) {
		throw new Error(
			`Remotion version drift: remotion is ${expected} but ${drift.map(([n, v]) => `${n}@${v}`).join(', ')}. Run \`npm ci --prefix remotion\`.`,
		);
	}
	return versions;
};

const VERSIONS = collectVersions();
const REMOTION_VERSION = VERSIONS.remotion;

// ---------------------------------------------------------------- bundle cache

const listFiles = (dir) => {
	const out = [];
	for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) {
			out.push(...listFiles(full));
		} else if (entry.isFile()) {
			out.push(full);
		}
	}
	return out.sort();
};

/** Hash of the entry, remotion/src/**, the remotion config/public dir and the installed package versions. */
const computeBundleHash = () => {
	const hash = createHash('sha256');
	hash.update(JSON.stringify(VERSIONS));
	hash.update(path.relative(PROJECT_DIR, ENTRY_POINT));
	const roots = [...new Set([SRC_DIR, ENTRY_DIR]), path.join(PROJECT_DIR, 'public')].filter((p) => fs.existsSync(p));
	const extra = ['remotion.config.ts', 'tsconfig.json'].map((f) => path.join(PROJECT_DIR, f)).filter((p) => fs.existsSync(p));
	for (const file of [...roots.flatMap(listFiles), ...extra]) {
		hash.update(path.relative(PROJECT_DIR, file));
		hash.update('\0');
		hash.update(fs.readFileSync(file));
		hash.update('\0');
	}
	return hash.digest('hex').slice(0, 16);
};

const bundlesDir = path.join(CACHE_DIR, 'bundles');
let currentBundle = null; // {hash, serveUrl}
let bundling = null; // Promise while a bundle is being built

const buildBundle = async (hash) => {
	const finalDir = path.join(bundlesDir, hash);
	if (fs.existsSync(path.join(finalDir, '.complete'))) {
		log('info', 'reusing cached bundle', {hash, dir: finalDir});
		return finalDir;
	}
	await fsp.mkdir(bundlesDir, {recursive: true});
	const tmpDir = path.join(bundlesDir, `.tmp-${hash}-${process.pid}-${randomUUID().slice(0, 8)}`);
	const started = Date.now();
	log('info', 'bundling Remotion project', {hash});
	let lastLogged = -1;
	await bundle({
		entryPoint: ENTRY_POINT,
		outDir: tmpDir,
		enableCaching: true,
		onProgress: (p) => {
			const tenth = Math.floor(p / 10);
			if (tenth !== lastLogged) {
				lastLogged = tenth;
				log('debug', 'bundling', {progress: p});
			}
		},
	});
	await fsp.writeFile(path.join(tmpDir, '.complete'), JSON.stringify({hash, versions: VERSIONS, at: new Date().toISOString()}));
	try {
		await fsp.rename(tmpDir, finalDir);
	} catch (err) {
		// another server process won the race: use its bundle
		if (fs.existsSync(path.join(finalDir, '.complete'))) {
			await fsp.rm(tmpDir, {recursive: true, force: true});
		} else {
			throw err;
		}
	}
	log('info', 'bundled', {hash, ms: Date.now() - started});
	await pruneBundles(hash);
	return finalDir;
};

/** Keep the three most recent bundles. */
const pruneBundles = async (keepHash) => {
	try {
		const entries = await fsp.readdir(bundlesDir);
		const dirs = [];
		for (const name of entries) {
			const full = path.join(bundlesDir, name);
			const st = await fsp.stat(full);
			if (!st.isDirectory()) continue;
			if (name.startsWith('.tmp-')) {
				if (Date.now() - st.mtimeMs > 3600_000) await fsp.rm(full, {recursive: true, force: true});
				continue;
			}
			dirs.push({name, full, mtime: st.mtimeMs});
		}
		dirs.sort((a, b) => b.mtime - a.mtime);
		for (const d of dirs.slice(3)) {
			if (d.name !== keepHash) await fsp.rm(d.full, {recursive: true, force: true});
		}
	} catch (err) {
		log('warn', 'could not prune old bundles', {error: String(err)});
	}
};

/** Returns the bundle for the current sources, rebuilding when remotion/src changed. */
const ensureBundle = async () => {
	const hash = computeBundleHash();
	if (currentBundle && currentBundle.hash === hash) {
		return currentBundle;
	}
	if (!bundling) {
		bundling = (async () => {
			const dir = await buildBundle(hash);
			currentBundle = {hash, serveUrl: dir};
			return currentBundle;
		})().finally(() => {
			bundling = null;
		});
	}
	return bundling;
};

// ---------------------------------------------------------------- leftovers of a killed server
//
// Remotion starts Chromium detached (its own process group), so a server killed
// with SIGKILL leaves its browser behind. Every server instance points TMPDIR at
// <socket dir>/run/<pid>/, which is where Remotion puts the browser profile
// (--user-data-dir=...) and its frame temp files. On start we look for run dirs of
// servers that are no longer alive, kill the browsers whose command line names
// such a dir, and delete the dir.

const RUN_ROOT = path.join(path.dirname(SOCKET_PATH), 'run');

const pidAlive = (pid) => {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return err.code === 'EPERM';
	}
};

const reapLeftovers = async () => {
	let entries = [];
	try {
		entries = await fsp.readdir(RUN_ROOT);
	} catch {
		return;
	}
	const dead = entries.filter((name) => /^\d+$/.test(name) && !pidAlive(Number(name)) && Number(name) !== process.pid);
	if (dead.length === 0) return;
	const deadDirs = dead.map((name) => path.join(RUN_ROOT, name) + path.sep);
	let procs = [];
	try {
		procs = (await fsp.readdir('/proc')).filter((n) => /^\d+$/.test(n));
	} catch {
		procs = [];
	}
	for (const pidName of procs) {
		let cmdline;
		try {
			cmdline = (await fsp.readFile(`/proc/${pidName}/cmdline`, 'utf8')).split('\0').join(' ');
		} catch {
			continue;
		}
		if (!cmdline.includes('--user-data-dir=')) continue;
		if (!deadDirs.some((dir) => cmdline.includes(`--user-data-dir=${dir}`))) continue;
		const pid = Number(pidName);
		log('warn', 'killing browser left behind by a dead render server', {pid});
		try {
			process.kill(-pid, 'SIGKILL'); // its own process group (spawned detached)
		} catch {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				// already gone
			}
		}
	}
	for (const name of dead) {
		await fsp.rm(path.join(RUN_ROOT, name), {recursive: true, force: true}).catch(() => undefined);
	}
};

const RUN_DIR = path.join(RUN_ROOT, String(process.pid));

// ---------------------------------------------------------------- browser

let browser = null;
let browserOpening = null;

const openOurBrowser = async () => {
	log('info', 'opening browser', {executable: CHROMIUM});
	const b = await openBrowser('chrome', {
		browserExecutable: CHROMIUM,
		chromiumOptions: CHROMIUM_OPTIONS,
		logLevel: LOG_LEVEL === 'verbose' ? 'verbose' : 'warn',
	});
	return b;
};

const browserAlive = async (b) => {
	try {
		await Promise.race([
			b.connection.send('Browser.getVersion'),
			new Promise((_, reject) => setTimeout(() => reject(new Error('browser health check timed out')), 5000)),
		]);
		return true;
	} catch {
		return false;
	}
};

/** The shared browser, reopened if it crashed or was closed. */
const ensureBrowser = async () => {
	if (browser && (await browserAlive(browser))) {
		return browser;
	}
	if (!browserOpening) {
		browserOpening = (async () => {
			if (browser) {
				log('warn', 'browser is gone, reopening it');
				const old = browser;
				browser = null;
				await old.close({silent: true}).catch(() => undefined);
			}
			browser = await openOurBrowser();
			return browser;
		})().finally(() => {
			browserOpening = null;
		});
	}
	return browserOpening;
};

// ---------------------------------------------------------------- errors

class RenderError extends Error {
	constructor(message, retryable) {
		super(message);
		this.retryable = retryable;
	}
}

class CancelledError extends Error {}

// Infrastructure trouble: worth another try. Anything else (React/JS errors,
// invalid props, a composition that cannot be selected) is permanent.
const RETRYABLE_PATTERNS = [
	/Target closed/i,
	/Session closed/i,
	/(Page|Browser|Renderer|Tab|GPU process|Target) (has )?crashed/i,
	/Browser (has )?(been )?(disconnected|closed)/i,
	/Failed to launch the browser/i,
	/Protocol error/i,
	/Navigation timeout/i,
	/timed? ?out/i,
	/timeout/i,
	/ECONNRESET|ECONNREFUSED|EPIPE|ENOSPC|EIO\b|EMFILE|ENFILE|EAGAIN/,
	/socket hang up/i,
	/Input\/output error|No space left|I\/O error/i,
	/Connection closed/i,
	/WebSocket/i,
	/compositor.*(exited|killed|signal)/i,
	/SIGKILL|SIGSEGV|SIGBUS|SIGABRT/,
];

// message: what the render failed with; stack: the full detail, for admins only (the
// Python side shows creators a cleaned one-liner, core/job_errors.py)
const classify = (err) => {
	if (err instanceof RenderError) {
		return {message: err.message, retryable: err.retryable, stack: err.detail ?? null};
	}
	const message = (err && (err.message || String(err))) || 'unknown error';
	const retryable = RETRYABLE_PATTERNS.some((re) => re.test(message));
	return {message: firstLines(message), retryable, stack: err?.stack ? firstLines(err.stack, 8000) : null};
};

const firstLines = (text, max = 1500) => {
	const trimmed = String(text).trim();
	return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
};

// ---------------------------------------------------------------- renders

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

// codec -> the output file's extension (Remotion picks the muxer from it) and its crf range
const CODECS = new Map([['h264', {ext: '.mp4', crf: [1, 51]}], ['vp9', {ext: '.webm', crf: [0, 63]}], ['gif', {ext: '.gif', crf: null}]]);
const PIXEL_FORMATS = new Set(['yuv420p']);
const X264_PRESETS = new Set(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo']);

const validateRequest = (body) => {
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
		if (c.retryable && browser) {
			// next render gets a fresh browser if this one is unhealthy
			if (!(await browserAlive(browser))) {
				const old = browser;
				browser = null;
				await old.close({silent: true}).catch(() => undefined);
			}
		}
	}
};

// ---------------------------------------------------------------- stills

const renderStillRequest = makeStills({
	ensureBundle,
	ensureBrowser,
	chromium: CHROMIUM,
	chromiumOptions: CHROMIUM_OPTIONS,
	logLevel: LOG_LEVEL,
	log,
	classify,
});

// ---------------------------------------------------------------- HTTP

const send = (res, status, body) => {
	const data = JSON.stringify(body);
	res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(data)});
	res.end(data);
};

const readBody = (req) =>
	new Promise((resolve, reject) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size > 5 * 1024 * 1024) {
				reject(new Error('body too large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});

const handle = async (req, res) => {
	lastActivityAt = Date.now();
	const url = new URL(req.url, 'http://render-server');
	const parts = url.pathname.split('/').filter(Boolean);
	if (req.method === 'GET' && url.pathname === '/health') {
		return send(res, 200, {
			ok: true,
			version: REMOTION_VERSION,
			bundle: currentBundle?.hash ?? null,
			pid: process.pid,
			maxParallel: MAX_PARALLEL,
			queued: queue.length,
			rendering,
		});
	}
	if (req.method === 'POST' && url.pathname === '/stills') {
		let body;
		try {
			body = JSON.parse(await readBody(req));
		} catch (err) {
			return send(res, 400, {error: {code: 'bad_request', message: `invalid JSON: ${err.message}`}});
		}
		const answer = await renderStillRequest(body);
		return send(res, answer.status, answer.body);
	}
	if (parts[0] !== 'renders') {
		return send(res, 404, {error: {code: 'not_found', message: `no route ${req.method} ${url.pathname}`}});
	}
	if (req.method === 'POST' && parts.length === 1) {
		let body;
		try {
			body = JSON.parse(await readBody(req));
		} catch (err) {
			return send(res, 400, {error: {code: 'bad_request', message: `invalid JSON: ${err.message}`}});
		}
		const problems = validateRequest(body);
		if (problems.length > 0) {
			return send(res, 400, {error: {code: 'bad_request', message: problems.join('; ')}});
		}
		const {created, record} = submit(body);
		return send(res, created ? 202 : 200, statusOf(record));
	}
	const record = parts[1] ? renders.get(decodeURIComponent(parts[1])) : undefined;
	if (!record) {
		return send(res, 404, {error: {code: 'not_found', message: 'unknown render id'}});
	}
	if (req.method === 'GET' && parts.length === 2) {
		return send(res, 200, statusOf(record));
	}
	if (req.method === 'POST' && parts.length === 3 && parts[2] === 'cancel') {
		await cancel(record);
		return send(res, 200, statusOf(record));
	}
	return send(res, 405, {error: {code: 'method_not_allowed'}});
};

/** Refuse to steal the socket of a live server; remove a stale socket file. */
const prepareSocket = async () => {
	if (!fs.existsSync(SOCKET_PATH)) return;
	const alive = await new Promise((resolve) => {
		const conn = net.connect(SOCKET_PATH);
		conn.once('connect', () => {
			conn.destroy();
			resolve(true);
		});
		conn.once('error', () => resolve(false));
	});
	if (alive) {
		throw new Error(`another render server is already listening on ${SOCKET_PATH}`);
	}
	await fsp.rm(SOCKET_PATH, {force: true});
};

// ---------------------------------------------------------------- main

let server = null;
let shuttingDown = false;

const shutdown = async (signal) => {
	if (shuttingDown) return;
	shuttingDown = true;
	log('info', 'shutting down', {signal});
	for (const r of renders.values()) {
		if (r.state === 'rendering') {
			r.cancelRequested = true;
			r.cancel?.();
		}
	}
	if (server) server.close();
	await fsp.rm(SOCKET_PATH, {force: true}).catch(() => undefined);
	const deadline = Date.now() + 5000;
	while (rendering > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
	if (browser) await browser.close({silent: true}).catch(() => undefined);
	await fsp.rm(RUN_DIR, {recursive: true, force: true}).catch(() => undefined);
	process.exit(0);
};

const main = async () => {
	const t0 = Date.now();
	await fsp.mkdir(CACHE_DIR, {recursive: true});
	await fsp.mkdir(path.dirname(SOCKET_PATH), {recursive: true});
	await prepareSocket();
	await reapLeftovers();
	await fsp.mkdir(RUN_DIR, {recursive: true});
	process.env.TMPDIR = RUN_DIR; // browser profile + Remotion temp files (see reapLeftovers)
	const b = await ensureBundle();
	await ensureBrowser();
	server = http.createServer((req, res) => {
		handle(req, res).catch((err) => {
			log('error', 'request failed', {error: String(err?.stack || err)});
			if (!res.headersSent) send(res, 500, {error: {code: 'internal', message: String(err?.message || err)}});
		});
	});
	await prepareSocket();
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(SOCKET_PATH, resolve);
	});
	for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
		process.on(sig, () => void shutdown(sig));
	}
	if (PARENT_PID > 0) {
		setInterval(() => {
			if (!pidAlive(PARENT_PID)) void shutdown('parent gone');
		}, 1000).unref();
	}
	if (IDLE_EXIT_MS > 0) {
		setInterval(() => {
			const busy = rendering > 0 || queue.length > 0;
			if (busy) lastActivityAt = Date.now();
			else if (Date.now() - lastActivityAt > IDLE_EXIT_MS) void shutdown('idle');
		}, Math.min(10_000, IDLE_EXIT_MS)).unref();
	}
	process.stdout.write(
		`${JSON.stringify({ready: true, pid: process.pid, socket: SOCKET_PATH, version: REMOTION_VERSION, bundle: b.hash, maxParallel: MAX_PARALLEL, startupMs: Date.now() - t0})}\n`,
	);
};

// A stray rejection inside Remotion (e.g. a page event after a cancelled render)
// must not take down the server and every queued render with it.
process.on('unhandledRejection', (reason) => {
	log('error', 'unhandled rejection', {error: String(reason?.stack || reason)});
});

main().catch((err) => {
	log('error', 'render server failed to start', {error: String(err?.stack || err)});
	process.stdout.write(`${JSON.stringify({ready: false, error: String(err?.message || err)})}\n`);
	process.exit(1);
});
