import { readFileSync } from 'fs';
import { resolve } from 'path';

describe('settings schema (issue 20)', () => {
  const schema = JSON.parse(readFileSync(resolve(__dirname, '../schema/plugin.json'), 'utf-8')) as {
    properties: Record<string, { type?: string; title?: string; description?: string }>;
  };

  it('no array setting has a description: JupyterLab prints an array field description twice', () => {
    // its form renders schema.description both in the array template and in the field template
    const arrays = Object.entries(schema.properties).filter(([, p]) => p.type === 'array');
    expect(arrays.length).toBeGreaterThan(0);
    for (const [name, p] of arrays) {
      expect([name, p.description]).toEqual([name, undefined]);
      expect(p.title).toBeTruthy();
    }
    expect(schema.properties.toolAllowlist.title).toContain('edit_cell');
  });
});
