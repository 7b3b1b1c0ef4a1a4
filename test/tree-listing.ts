import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Lists a folder as "path mode [-> target | content]" lines, for comparing two copies. */
export async function describeTree(root: string, relative = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(root, relative))).sort()) {
    const path = join(relative, name);
    const info = await lstat(join(root, path));
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) lines.push(`${path} link -> ${await readlink(join(root, path))}`);
    else if (info.isDirectory()) lines.push(`${path}/ ${mode}`, ...(await describeTree(root, path)));
    else lines.push(`${path} ${mode} ${await readFile(join(root, path), 'utf8')}`);
  }
  return lines;
}
