/**
 * Email channel: sends the alert over SMTP with nodemailer — the one line as the subject, the
 * line and the JSON payload as the body. TLS modes: `tls` (implicit, usually port 465),
 * `starttls` (required upgrade, usually 587) or `none` (plain, for a relay on a trusted network).
 */
import nodemailer from 'nodemailer';
import type { ChannelSecrets, EmailSettings } from '../../db/notification-channel.repository';
import { DeliveryError, reasonOf } from './delivery-error';

export async function sendEmail(settings: EmailSettings, secrets: ChannelSecrets, text: string, payload: Record<string, unknown>, timeoutMs: number): Promise<void> {
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.tls === 'tls',
    requireTLS: settings.tls === 'starttls',
    ignoreTLS: settings.tls === 'none',
    auth: settings.username ? { user: settings.username, pass: secrets.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    await transport.sendMail({
      from: settings.from,
      to: settings.to,
      subject: text,
      text: `${text}\n\n${JSON.stringify(payload, null, 2)}\n`,
      headers: { 'X-Runboard-Alert': String(payload.kind ?? '') },
    });
  } catch (error) {
    throw new DeliveryError(`The SMTP server ${settings.host}:${settings.port} did not take the message: ${reasonOf(error)}`, { cause: error });
  } finally {
    transport.close();
  }
}
