/**
 * The `yaml` library, loaded on first use: a broker started without a
 * config file or a users file never parses YAML, and the library costs
 * about 1 MB of heap once loaded.
 */
import { createRequire } from 'node:module';

export type YamlLib = typeof import('yaml');

let loaded: YamlLib | undefined;

export function yamlLib(): YamlLib {
  // yaml is CommonJS under Node: require() gives the same instance an import would.
  return (loaded ??= createRequire(import.meta.url)('yaml') as YamlLib);
}
