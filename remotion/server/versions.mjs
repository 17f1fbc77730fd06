// Versions of every Remotion package installed; the server refuses to start on drift
// (one Remotion version everywhere).

import fs from 'node:fs';
import path from 'node:path';

const REQUIRED_VERSION_PACKAGE = 'remotion';

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** Versions of every Remotion package installed, refusing to start on drift. */
export const collectVersions = (projectDir) => {
	const nm = path.join(projectDir, 'node_modules');
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
