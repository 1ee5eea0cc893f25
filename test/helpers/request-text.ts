import { request, type Dispatcher } from 'undici';

/** What a client got back from one HTTP request, the body read as text. */
export interface TextResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: string;
}

/** One request with undici (a real HTTP client); the whole body read as text. */
export async function requestText(
  url: string,
  init: {
    readonly method?: string;
    readonly headers?: Record<string, string> | string[];
    readonly body?: string | undefined;
  } = {},
): Promise<TextResponse> {
  const response = await request(url, {
    method: init.method ?? 'GET',
    ...(init.headers === undefined ? {} : { headers: init.headers }),
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: await response.body.text(),
  };
}
