/**
 * Answer versions (pure). Regenerate keeps earlier answers: assistant messages that share a
 * `parent_id` (the user message they answer) are versions of one turn, the newest is the current
 * one. The thread shows one version per turn, with ‹ i/n › to page through the others.
 */
import { Message } from './types';

export interface VersionInfo {
  /** 1-based position of the shown version among the turn's answers */
  index: number;
  count: number;
  /** message ids of the neighbours, null at the ends */
  prev: number | null;
  next: number | null;
}

/**
 * Branches: editing a question starts a branch beside it (the server keeps the old one with its
 * later turns). The server marks a question that has siblings with `branch` ({index, count,
 * prev, next}: the neighbouring questions' ids); the thread shows ‹ i/n › on it.
 */
export interface BranchInfo {
  index: number;
  count: number;
  prev: number | null;
  next: number | null;
}

/** The branch info of a user message (null when it has no siblings or is not yet saved). */
export function branchOf(m: Message & { branch?: BranchInfo | null }): BranchInfo | null {
  const b = m.branch;
  return m.role === 'user' && b && b.count > 1 ? b : null;
}

export interface ThreadItem {
  message: Message;
  versions: VersionInfo | null;
}

/**
 * The messages to show: every message, except that a turn with several answers shows only the
 * chosen one (`chosen[parent_id]`, else the newest). Messages keep their order.
 */
export function threadItems(messages: Message[], chosen: Record<number, number> = {}): ThreadItem[] {
  const heads = chainHeads(messages);
  const groups = new Map<number, Message[]>();
  for (const m of messages) {
    if (m.role === 'assistant' && m.parent_id !== null && !heads.has(m)) {
      const group = groups.get(m.parent_id);
      if (group) {
        group.push(m);
      } else {
        groups.set(m.parent_id, [m]);
      }
    }
  }
  const items: ThreadItem[] = [];
  const hidden = new Set<Message>();
  for (const m of messages) {
    const head = heads.get(m);
    if (head) {
      // a tool row or a later step: shown with the answer that started its chain
      if (!hidden.has(head)) {
        items.push({ message: m, versions: null });
      }
      continue;
    }
    const group = m.role === 'assistant' && m.parent_id !== null ? groups.get(m.parent_id) : undefined;
    if (!group || group.length < 2) {
      items.push({ message: m, versions: null });
      continue;
    }
    const wanted = chosen[m.parent_id as number];
    const shown = group.find(g => g.id === wanted) ?? group[group.length - 1];
    if (shown !== m) {
      hidden.add(m);
      continue;
    }
    const i = group.indexOf(m);
    items.push({
      message: m,
      versions: {
        index: i + 1,
        count: group.length,
        prev: i > 0 ? group[i - 1].id : null,
        next: i < group.length - 1 ? group[i + 1].id : null
      }
    });
  }
  return items;
}

/**
 * Agent turns: the answer that called tools heads a chain of "tool" rows and the answers of later
 * steps (an assistant row right after a tool row). Maps each member of a chain to its head; heads
 * alone are versions of a turn, whatever parent the server gave the later steps.
 */
function chainHeads(messages: Message[]): Map<Message, Message> {
  const heads = new Map<Message, Message>();
  let head: Message | null = null;
  let prev: Message | null = null;
  for (const m of messages) {
    const follows = m.role === 'tool' || (m.role === 'assistant' && prev?.role === 'tool');
    if (follows && head) {
      heads.set(m, head);
    } else {
      head = m.role === 'assistant' ? m : null;
    }
    prev = m;
  }
  return heads;
}
