// Render errors: which failures are worth another try, and the text each side sees
// (message: what the render failed with; stack: the full detail, for admins only — the
// Python side shows creators a cleaned one-liner, core/job_errors.py).

export class RenderError extends Error {
	constructor(message, retryable) {
		super(message);
		this.retryable = retryable;
	}
}

export class CancelledError extends Error {}

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

export const classify = (err) => {
	if (err instanceof RenderError) {
		return {message: err.message, retryable: err.retryable, stack: err.detail ?? null};
	}
	const message = (err && (err.message || String(err))) || 'unknown error';
	const retryable = RETRYABLE_PATTERNS.some((re) => re.test(message));
	return {message: firstLines(message), retryable, stack: err?.stack ? firstLines(err.stack, 8000) : null};
};

export const firstLines = (text, max = 1500) => {
	const trimmed = String(text).trim();
	return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
};
