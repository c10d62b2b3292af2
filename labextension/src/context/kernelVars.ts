/**
 * Live kernel variables for `@var:name`, read without running user code.
 *
 * The kernel is asked through `user_expressions` of a silent, empty execute request: the fixed
 * expressions below only read the namespace dict, call `type()` (never `isinstance`, which can
 * reach a user `__class__`), and look inside values only for builtins, pandas and numpy, whose
 * code we trust; any other object is shown by `object.__repr__` (no user `__repr__` runs). The
 * answer is base64 of JSON, so its `text/plain` repr is trivial to decode. A busy kernel would
 * queue the request behind the running cell: it is refused at once, and every request has a
 * timeout, so a chip never waits for ever.
 */
import { isIdentifier } from './tokens';
import { VarInfo } from './items';

const PY_PREAMBLE = '__import__("base64").b64encode(__import__("json").dumps(';
const PY_END = ', default=str).encode()).decode()';

/** The expression describing variable `name` of the kernel's namespace. */
export function varExpression(name: string): string {
  if (!isIdentifier(name)) {
    throw new Error(`Not a variable name: ${name}`);
  }
  const describe = [
    '(lambda v, t, m, p: {',
    '"type": (m + "." if m != "builtins" else "") + t.__qualname__,',
    '"shape": list(v.shape) if p in ("pandas", "numpy") and hasattr(t, "shape") else None,',
    '"dtypes": ({str(k): str(d) for k, d in list(v.dtypes.items())[:40]} if p == "pandas" and t.__name__ == "DataFrame"',
    ' else str(v.dtype) if p in ("pandas", "numpy") and hasattr(t, "dtype") else None),',
    '"len": len(v) if t in (str, bytes, list, tuple, dict, set, frozenset) else None,',
    '"preview": (v.head(5).to_string(max_cols=12, max_colwidth=40) if p == "pandas" and hasattr(t, "head")',
    ' else __import__("numpy").array2string(v, threshold=40, edgeitems=3) if p == "numpy" and t.__name__ == "ndarray"',
    ' else repr(v[:1000]) if t in (str, bytes)',
    ' else __import__("reprlib").repr(v) if t in (int, float, complex, bool, list, tuple, dict, set, frozenset, type(None))',
    ' else object.__repr__(v))[:2000]',
    '})'
  ].join('');
  const n = JSON.stringify(name);
  return (
    `(lambda ns: ${PY_PREAMBLE}` +
    `{"missing": True} if ${n} not in ns else ` +
    `${describe}(ns[${n}], type(ns[${n}]), type(ns[${n}]).__module__, type(ns[${n}]).__module__.split(".")[0])` +
    `${PY_END})(globals())`
  );
}

/** The expression listing the user's variables: [[name, type name], ...] (no modules, classes, functions). */
export const LIST_VARS_EXPRESSION =
  `(lambda ns, skip: ${PY_PREAMBLE}` +
  '[[k, type(v).__name__] for k, v in list(ns.items())' +
  ' if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython") and not issubclass(type(v), skip)][:200]' +
  `${PY_END})(globals(), (type(__import__("json")), type, type(lambda: 0), type(print)))`;

/** Decode the `text/plain` of an expression's result: the repr of a base64 str of JSON. */
export function decodeResult(textPlain: string): unknown {
  const m = /^'([A-Za-z0-9+/=]*)'$/.exec(textPlain.trim());
  if (!m) {
    throw new Error('The kernel answered something unexpected.');
  }
  const bytes = Uint8Array.from(atob(m[1]), c => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** What a kernel connection offers here (a subset of Kernel.IKernelConnection). */
export interface KernelLike {
  status: string;
  connectionStatus?: string;
  requestExecute(
    content: { code: string; silent: boolean; store_history: boolean; user_expressions: Record<string, string>; allow_stdin?: boolean },
    disposeOnDone?: boolean
  ): { done: Promise<{ content: { status: string; user_expressions?: Record<string, any> } }>; dispose(): void };
}

export class KernelError extends Error {
  constructor(
    readonly reason: 'no_kernel' | 'busy' | 'dead' | 'timeout' | 'missing' | 'failed',
    message: string
  ) {
    super(message);
  }
}

const DEAD = new Set(['dead', 'unknown', 'terminating', 'restarting', 'autorestarting', 'starting']);

/** Evaluate one fixed expression in the kernel; the reasons it cannot are KernelErrors. */
export async function evaluate(kernel: KernelLike | null | undefined, expression: string, timeoutMs = 4000): Promise<unknown> {
  if (!kernel) {
    throw new KernelError('no_kernel', 'The notebook has no kernel.');
  }
  if (DEAD.has(kernel.status)) {
    throw new KernelError('dead', `The kernel is ${kernel.status}.`);
  }
  if (kernel.status === 'busy') {
    throw new KernelError('busy', 'The kernel is busy running a cell.');
  }
  if (kernel.connectionStatus && kernel.connectionStatus !== 'connected') {
    throw new KernelError('dead', `The kernel is ${kernel.connectionStatus}.`);
  }
  const future = kernel.requestExecute({ code: '', silent: true, store_history: false, allow_stdin: false, user_expressions: { v: expression } }, true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KernelError('timeout', `The kernel did not answer in ${Math.round(timeoutMs / 1000)} s (busy?).`)), timeoutMs);
  });
  try {
    const reply = await Promise.race([future.done, timeout]);
    const result = reply.content.user_expressions?.v;
    if (reply.content.status !== 'ok' || !result) {
      throw new KernelError('failed', 'The kernel could not run the request.');
    }
    if (result.status !== 'ok') {
      throw new KernelError('failed', `The kernel said: ${result.ename ?? 'error'}: ${result.evalue ?? ''}`);
    }
    return decodeResult(String(result.data?.['text/plain'] ?? ''));
  } catch (err) {
    future.dispose();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export async function inspectVar(kernel: KernelLike | null | undefined, name: string, timeoutMs?: number): Promise<VarInfo> {
  const info = (await evaluate(kernel, varExpression(name), timeoutMs)) as VarInfo;
  if (info.missing) {
    throw new KernelError('missing', `No variable named ${name} in the kernel.`);
  }
  return info;
}

export async function listVars(kernel: KernelLike | null | undefined, timeoutMs?: number): Promise<[string, string][]> {
  return (await evaluate(kernel, LIST_VARS_EXPRESSION, timeoutMs)) as [string, string][];
}
