// Leftovers of a killed render server.
//
// Remotion starts Chromium detached (its own process group), so a server killed
// with SIGKILL leaves its browser behind. Every server instance points TMPDIR at
// <socket dir>/run/<pid>/, which is where Remotion puts the browser profile
// (--user-data-dir=...) and its frame temp files. On start we look for run dirs of
// servers that are no longer alive, kill the browsers whose command line names
// such a dir, and delete the dir.

import fsp from 'node:fs/promises';
import path from 'node:path';

export const pidAlive = (pid) => {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return err.code === 'EPERM';
	}
};

/** Kill the browsers of dead servers whose run dirs sit in runRoot; delete those dirs. */
export const reapLeftovers = async (runRoot, log) => {
	let entries = [];
	try {
		entries = await fsp.readdir(runRoot);
	} catch {
		return;
	}
	const dead = entries.filter((name) => /^\d+$/.test(name) && !pidAlive(Number(name)) && Number(name) !== process.pid);
	if (dead.length === 0) return;
	const deadDirs = dead.map((name) => path.join(runRoot, name) + path.sep);
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
		await fsp.rm(path.join(runRoot, name), {recursive: true, force: true}).catch(() => undefined);
	}
};
