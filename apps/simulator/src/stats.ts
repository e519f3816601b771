export type ApiName = 'pipedrive' | 'chatwoot' | 'gchat';

export interface ApiStats {
  requests: number;
  /** `METHOD /route-pattern` → count (unrouted requests are counted under `METHOD /prefix (unrouted)`). */
  byRoute: Record<string, number>;
  /** HTTP status → count. */
  byStatus: Record<string, number>;
}

export interface Stats {
  total: number;
  byApi: Record<ApiName, ApiStats>;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  /** Pipedrive token cost of the requests served (§4.2 costs: 10 per v2 list page, 1 per get-one, ...). */
  pipedriveTokens: number;
  pipedriveTokensByRoute: Record<string, number>;
}

function emptyApi(): ApiStats {
  return { requests: 0, byRoute: {}, byStatus: {} };
}

export class StatsRecorder {
  private s: Stats = StatsRecorder.empty();

  static empty(): Stats {
    return {
      total: 0,
      byApi: { pipedrive: emptyApi(), chatwoot: emptyApi(), gchat: emptyApi() },
      byRoute: {},
      byStatus: {},
      pipedriveTokens: 0,
      pipedriveTokensByRoute: {},
    };
  }

  record(api: ApiName, routeKey: string, status: number): void {
    const inc = (o: Record<string, number>, k: string, n = 1): void => {
      o[k] = (o[k] ?? 0) + n;
    };
    this.s.total++;
    const a = this.s.byApi[api];
    a.requests++;
    inc(a.byRoute, routeKey);
    inc(a.byStatus, String(status));
    inc(this.s.byRoute, routeKey);
    inc(this.s.byStatus, String(status));
  }

  addTokens(routeKey: string, n: number): void {
    this.s.pipedriveTokens += n;
    this.s.pipedriveTokensByRoute[routeKey] = (this.s.pipedriveTokensByRoute[routeKey] ?? 0) + n;
  }

  snapshot(): Stats {
    return structuredClone(this.s);
  }

  reset(): void {
    this.s = StatsRecorder.empty();
  }
}
