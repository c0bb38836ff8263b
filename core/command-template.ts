/**
 * Command-line templates (Sloth CI actions): `{name}` is replaced by the value of parameter
 * `name`, `{{` and `}}` stand for literal braces — Python's `str.format_map`, without format
 * specs. A placeholder naming no parameter is an error, so the step it belongs to fails rather
 * than running with a hole in its command line.
 */

export type Formatted = { text: string } | { error: string };

export function formatCommand(template: string, parameters: Readonly<Record<string, string>>): Formatted {
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const char = template[i]!;
    if (char === '{' && template[i + 1] === '{') {
      text += '{';
      i++;
    } else if (char === '}' && template[i + 1] === '}') {
      text += '}';
      i++;
    } else if (char === '{') {
      const end = template.indexOf('}', i + 1);
      if (end < 0) return { error: `unmatched "{" at character ${i + 1} of the command` };
      const name = template.slice(i + 1, end);
      if (!Object.hasOwn(parameters, name)) return { error: `missing parameter ${JSON.stringify(name)}` };
      text += parameters[name];
      i = end;
    } else if (char === '}') {
      return { error: `single "}" at character ${i + 1} of the command` };
    } else text += char;
  }
  return { text };
}
