import { wantsBlankLineGhost } from '../src/inline/blankLine';

describe('ghost text on a blank line (issue 20)', () => {
  const lines = (text: string) => (i: number) => text.split('\n')[i];
  it('is asked for on a new blank line after a line of code', () => {
    expect(wantsBlankLineGhost(lines('import pandas as pd\n'), 1)).toBe(true);
    expect(wantsBlankLineGhost(lines('def f(x):\n    '), 1)).toBe(true);
  });
  it('is left to JupyterLab elsewhere', () => {
    expect(wantsBlankLineGhost(lines('x = 1'), 0)).toBe(false); // a line with text
    expect(wantsBlankLineGhost(lines('x = 1\n\n'), 2)).toBe(false); // a second blank line
    expect(wantsBlankLineGhost(lines(''), 0)).toBe(false); // an empty cell
  });
});
