/**
 * Whether the chosen model is likely to call tools (issue 20): the Tools switch says so when not,
 * with a link to the Models view. The server marks each GET /chat-ext/models entry with
 * `tools_hint` (the model hub's rule: a chat template without tools, or too small a model).
 */
/** GET /chat-ext/models `tools_hint`: whether the model is likely to call tools, and why not. */
export interface ToolsHint {
  likely: boolean;
  reason: string;
}

/** The tools hint of a model entry, read defensively (servers before issue 20 send none). */
export function toolsHintOf(model: unknown): ToolsHint | null {
  const hint = (model as { tools_hint?: unknown } | null | undefined)?.tools_hint as Partial<ToolsHint> | undefined;
  if (!hint || typeof hint.likely !== 'boolean') {
    return null;
  }
  return { likely: hint.likely, reason: typeof hint.reason === 'string' ? hint.reason : '' };
}
