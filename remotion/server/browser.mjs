// The one Chromium a server renders with: opened on first use, reopened when it crashed.

/** browserAlive(b): does it still answer (5 s)? */
export const browserAlive = async (b) => {
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

/** ensure(): the shared browser, reopened if it crashed or was closed; dropIfDead(): close
 * it when it no longer answers (the next render opens a fresh one); close(). */
export const makeBrowser = ({openBrowser, chromium, chromiumOptions, logLevel, log}) => {
	let browser = null;
	let browserOpening = null;

	const openOurBrowser = async () => {
		log('info', 'opening browser', {executable: chromium});
		return openBrowser('chrome', {
			browserExecutable: chromium,
			chromiumOptions,
			logLevel: logLevel === 'verbose' ? 'verbose' : 'warn',
		});
	};

	const ensure = async () => {
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

	const dropIfDead = async () => {
		if (browser && !(await browserAlive(browser))) {
			const old = browser;
			browser = null;
			await old.close({silent: true}).catch(() => undefined);
		}
	};

	const close = async () => {
		if (browser) await browser.close({silent: true}).catch(() => undefined);
	};

	return {ensure, dropIfDead, close};
};
