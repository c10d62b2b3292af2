import { toolsHintOf } from '../src/toolsHint';

describe('tools hint of a model entry (issue 20)', () => {
  it('reads the server hint defensively', () => {
    expect(toolsHintOf({ id: 'm', tools_hint: { likely: false, reason: 'no tool template' } })).toEqual({ likely: false, reason: 'no tool template' });
    expect(toolsHintOf({ id: 'm', tools_hint: { likely: true } })).toEqual({ likely: true, reason: '' });
    expect(toolsHintOf({ id: 'm' })).toBeNull(); // a server before the hint: nothing shown
    expect(toolsHintOf({ id: 'm', tools_hint: 'yes' })).toBeNull();
    expect(toolsHintOf(undefined)).toBeNull();
  });
});
