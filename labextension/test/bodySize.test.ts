import { BodyTooLarge, checkedJson, MAX_BODY_BYTES } from '../src/bodySize';

describe('checkedJson', () => {
  it('passes a body under the limit through as JSON', () => {
    expect(checkedJson({ content: 'hi' })).toBe('{"content":"hi"}');
  });

  it('refuses a body over the limit before it is sent, saying how big it is', () => {
    const big = { content: 'x'.repeat(MAX_BODY_BYTES) };
    expect(() => checkedJson(big)).toThrow(BodyTooLarge);
    try {
      checkedJson(big);
    } catch (err) {
      expect((err as BodyTooLarge).size).toBeGreaterThan(MAX_BODY_BYTES);
      expect((err as Error).message).toContain('1.0 MB');
    }
  });

  it('counts UTF-8 bytes, not characters', () => {
    const text = 'é'.repeat(600_000); // 600k characters, 1.2 MB in UTF-8
    expect(() => checkedJson({ content: text })).toThrow(BodyTooLarge);
    expect(checkedJson({ content: 'é'.repeat(100) }, 1000)).toContain('é');
  });
});
