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
//
// This file: arguments, HTTP and main. Beside it: render-queue.mjs (the FIFO and each
// render), requests.mjs (what POST /renders accepts), stills.mjs, bundles.mjs (the bundle
// cache), browser.mjs, versions.mjs, leftovers.mjs (a killed server's browsers), errors.mjs.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';

import {openBrowser} from '@remotion/renderer';

import {makeBrowser} from './browser.mjs';
import {makeBundles} from './bundles.mjs';
import {classify} from './errors.mjs';
import {pidAlive, reapLeftovers} from './leftovers.mjs';
import {makeRenderQueue} from './render-queue.mjs';
import {validateRequest} from './requests.mjs';
import {makeStills} from './stills.mjs';
import {collectVersions} from './versions.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_DIR = path.resolve(HERE, '..');
const SRC_DIR = path.join(PROJECT_DIR, 'src');

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

// ---------------------------------------------------------------- versions, bundle, browser

const VERSIONS = collectVersions(PROJECT_DIR);
const REMOTION_VERSION = VERSIONS.remotion;
const bundles = makeBundles({projectDir: PROJECT_DIR, srcDir: SRC_DIR, entryPoint: ENTRY_POINT, cacheDir: CACHE_DIR, versions: VERSIONS, log});
const {ensureBundle} = bundles;
// Chromium's profile and Remotion's temp files: <socket dir>/run/<pid>/ (leftovers.mjs)
const RUN_ROOT = path.join(path.dirname(SOCKET_PATH), 'run');
const RUN_DIR = path.join(RUN_ROOT, String(process.pid));
const browsers = makeBrowser({openBrowser, chromium: CHROMIUM, chromiumOptions: CHROMIUM_OPTIONS, logLevel: LOG_LEVEL, log});
const ensureBrowser = browsers.ensure;

// ---------------------------------------------------------------- renders

const renderQueue = makeRenderQueue({
	ensureBundle,
	ensureBrowser,
	browsers,
	log,
	chromium: CHROMIUM,
	chromiumOptions: CHROMIUM_OPTIONS,
	logLevel: LOG_LEVEL,
	maxParallel: MAX_PARALLEL,
	keepRecords: KEEP_RECORDS,
	defaultConcurrency: DEFAULT_CONCURRENCY,
	stallMs: STALL_MS,
});
const {submit, cancel, statusOf} = renderQueue;

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
			bundle: bundles.current()?.hash ?? null,
			pid: process.pid,
			maxParallel: MAX_PARALLEL,
			...renderQueue.counts(),
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
	const record = parts[1] ? renderQueue.get(decodeURIComponent(parts[1])) : undefined;
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
	renderQueue.abortAll();
	if (server) server.close();
	await fsp.rm(SOCKET_PATH, {force: true}).catch(() => undefined);
	const deadline = Date.now() + 5000;
	while (renderQueue.counts().rendering > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
	await browsers.close();
	await fsp.rm(RUN_DIR, {recursive: true, force: true}).catch(() => undefined);
	process.exit(0);
};

const main = async () => {
	const t0 = Date.now();
	await fsp.mkdir(CACHE_DIR, {recursive: true});
	await fsp.mkdir(path.dirname(SOCKET_PATH), {recursive: true});
	await prepareSocket();
	await reapLeftovers(RUN_ROOT, log);
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
			const {queued, rendering} = renderQueue.counts();
			const busy = rendering > 0 || queued > 0;
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
