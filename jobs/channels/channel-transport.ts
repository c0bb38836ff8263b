/** Sends one delivery through its channel, whichever kind it is. */
import type { Delivery } from '../../db/alert-delivery.repository';
import type { ChannelSecrets, NotificationChannel } from '../../db/notification-channel.repository';
import { runCommand } from './command';
import { sendEmail } from './email';
import { sendWebhook } from './webhook';

export async function sendThrough(channel: NotificationChannel, secrets: ChannelSecrets, delivery: Delivery, timeoutMs: number): Promise<void> {
  switch (channel.kind) {
    case 'webhook':
      return sendWebhook(secrets, delivery.payload, timeoutMs);
    case 'email':
      return sendEmail(channel.email, secrets, delivery.text, delivery.payload, timeoutMs);
    case 'command':
      return runCommand(channel.command, delivery.payload, timeoutMs);
  }
}
