/**
 * Webhook channel: POSTs the alert as JSON. The payload's `text` field makes it a valid Slack
 * (and Mattermost, Rocket.Chat) incoming-webhook message as it is; other receivers read the rest.
 * Any 2xx is delivered; anything else, a redirect included, is a failed attempt.
 */
import type { ChannelSecrets } from '../../db/notification-channel.repository';
import { DeliveryError } from './delivery-error';

export async function sendWebhook(secrets: ChannelSecrets, payload: Record<string, unknown>, timeoutMs: number): Promise<void> {
  if (!secrets.url) throw new DeliveryError('The channel has no webhook URL stored: set one with updateNotificationChannel.');
  let response: Response;
  try {
    response = await fetch(secrets.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Runboard alerts', ...secrets.headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect could carry the alert (and its headers) somewhere else.
      redirect: 'manual',
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new DeliveryError(`The webhook at ${new URL(secrets.url).origin} could not be reached: ${why}.`, { cause: error });
  }
  const body = (await response.text().catch(() => '')).slice(0, 300);
  if (response.status < 200 || response.status > 299) {
    throw new DeliveryError(`The webhook answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${body ? `: ${body}` : ''}.`);
  }
}
