import { bindingsFor } from './bindings.js';
import { cloudEventsFormat } from './cloudevents.js';
import type { FormatName } from '../../shared/config/schema.js';
import { NO_HEADERS, type Format, type TemplateRunner } from './format.js';
import { templatedFormat } from './templated.js';
import { FormatSettingError, templateSource } from './templates.js';

/** Teams Workflows refuse messages above 28 KB ("Request Entity too large"). */
const TEAMS_MAX_BYTES = 28 * 1024;

export interface FormatSettings {
  format: FormatName;
  /** TEMPLATE: a JSONata expression, or `@/path/to/file`; only with FORMAT=template. */
  template?: string;
  /** OPENCTI_URL: links, ce-source, the Splunk host. */
  openctiUrl?: string;
  /** CONNECTOR_LIVE_STREAM_ID: ce-source and the Splunk source. */
  liveStreamId?: string;
}

/** raw: the body as OpenCTI sent it, nothing added; the fast path, allocating nothing. */
const RAW: Format = { name: 'raw', format: (event) => ({ body: event.body, headers: NO_HEADERS }) };

/**
 * The format of one destination, built once at start. Templates are read
 * and checked now (FormatSettingError, OWH_CONFIG); `runner` evaluates
 * them later and is required by the formats that have one (`template`
 * on the returned format is its source: compile that into the runner).
 */
export function buildFormat(settings: FormatSettings, runner?: TemplateRunner): Format {
  const { format } = settings;
  const source = templateSource(format, settings.template);
  const openctiUrl = settings.openctiUrl?.replace(/\/+$/, '');
  if (format === 'raw') return RAW;
  if (format !== 'template' && openctiUrl === undefined) throw new FormatSettingError(`FORMAT=${format} needs OPENCTI_URL`);
  if ((format === 'cloudevents' || format === 'splunk-hec') && settings.liveStreamId === undefined) {
    throw new FormatSettingError(`FORMAT=${format} needs CONNECTOR_LIVE_STREAM_ID`);
  }
  if (format === 'cloudevents') return cloudEventsFormat(openctiUrl!, settings.liveStreamId!);
  if (source === undefined || runner === undefined) throw new Error(`FORMAT=${format} runs a template: buildFormat needs a TemplateRunner`);
  return templatedFormat({
    name: format,
    source,
    runner,
    bindings: bindingsFor({ openctiUrl, liveStreamId: settings.liveStreamId }),
    ...(format === 'teams' ? { maxBytes: TEAMS_MAX_BYTES } : {}),
  });
}
