// The Remotion bundle cache: one bundle per hash of the sources and package versions,
// built once (across server processes: written to a temp dir, then renamed) and reused.

import {createHash, randomUUID} from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import {bundle} from '@remotion/bundler';

/** ensureBundle() for these sources; current() is the bundle in use (or null). */
export const makeBundles = ({projectDir, srcDir, entryPoint, cacheDir, versions, log}) => {
	const PROJECT_DIR = projectDir;
	const SRC_DIR = srcDir;
	const ENTRY_POINT = entryPoint;
	const ENTRY_DIR = path.dirname(entryPoint);
	const CACHE_DIR = cacheDir;
	const VERSIONS = versions;

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

	return {ensureBundle, current: () => currentBundle};
};
