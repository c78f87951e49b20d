/** What is wrong with one setting, named both ways. */
export interface ConfigProblem {
  /** Environment variable name, e.g. WEBHOOK_URL. */
  variable: string;
  /** config.yml key, e.g. webhook.url. */
  key: string;
  message: string;
}

/** Environment variables by name. */
export type Environment = Readonly<Record<string, string | undefined>>;
