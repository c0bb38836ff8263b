/**
 * The agent's key file: one line holding the host key, readable by its owner only (0600), as
 * `--register` leaves it. A key file open to others is refused: the key is a credential.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The key in the file, or undefined when the file does not exist or is empty. */
export function readKeyFile(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`Cannot read the key file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const key = text.trim();
  if (!key) return undefined;
  const mode = fs.statSync(file).mode & 0o077;
  if (mode !== 0) throw new Error(`The key file ${file} can be read by others (mode ${(fs.statSync(file).mode & 0o777).toString(8)}): chmod 600 it.`);
  if (!/^rbh_\S+$/.test(key)) throw new Error(`The key file ${file} does not hold a host key (rbh_…).`);
  return key;
}

/** Writes the key with mode 0600, atomically (a crash leaves the old file or the new one). */
export function writeKeyFile(file: string, key: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${key}\n`, { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, file);
}
