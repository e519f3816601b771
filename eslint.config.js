import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'logs/**', '.test-reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  {
    files: [
      'apps/cli/**',
      'apps/demo/**',
      'apps/simulator/src/main.ts',
      'scripts/**',
      'test/**',
      '**/test/**',
      'bench/**',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // The build and launcher scripts (scripts/*.mjs) run on plain Node.
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
