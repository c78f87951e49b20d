import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { checkExpression } from '../jsonata/check.js';
import { toText, withMeta } from './fields.js';

/**
 * A JSONata expression, inline or `@<path>` (read once, at start). The value
 * becomes the expression's source; it is compiled here so that a typo is a
 * start-up error naming the variable and the position, not a failure on the
 * first event.
 */
export function optionalExpressionField(description: string) {
  const schema = z.string().min(1).transform((text, context) => {
    let source = text;
    if (text.startsWith('@')) {
      const path = text.slice(1);
      try {
        source = readFileSync(path, 'utf8');
      } catch (error) {
        context.addIssue({ code: 'custom', message: `names a file that cannot be read: ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` });
        return z.NEVER;
      }
    }
    const problem = checkExpression(source);
    if (problem !== undefined) {
      context.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return source;
  });
  return withMeta(z.preprocess(toText, schema).optional(), { description, accepted: 'a JSONata expression, or @ followed by the path of a file holding one' });
}
