// The secrets that come from outside Azure (the video CDN's signing key, the payment
// provider's webhook secrets, the providers' API keys) and the app's own connection-state key (generated once by
// azd), written to Key Vault so the app reads them through Key Vault
// references like every other secret. Secrets Azure generates (database password, Redis
// key, Web PubSub key) are written by the module that owns the resource.

param keyVaultName string

@secure()
@description('Key that signs video playback URLs (from the video CDN).')
param videoSigningKey string

@secure()
@description('Payment webhook signing secrets, comma-separated: during a rotation both the old and the new one are listed.')
param paymentWebhookSecrets string

@secure()
@description('HMAC key that signs the Web PubSub connection state.')
param connectionStateKey string

@secure()
@description('HMAC key that signs calendar feed URLs.')
param calendarFeedKey string

@secure()
@description('Stripe secret API key (sk_live_... in production).')
param stripeSecretKey string

@secure()
@description('Razorpay key secret (paired with the public key id).')
param razorpayKeySecret string

@secure()
@description('Razorpay webhook secrets, comma-separated: during a rotation both the old and the new one are listed.')
param razorpayWebhookSecrets string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource videoSigningKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'video-signing-key'
  properties: {
    value: videoSigningKey
    contentType: 'text/plain; video CDN playback signing key'
  }
}

resource paymentWebhookSecretsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'payment-webhook-secrets'
  properties: {
    value: paymentWebhookSecrets
    contentType: 'text/plain; comma-separated payment webhook signing secrets'
  }
}

resource connectionStateKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'connection-state-key'
  properties: {
    value: connectionStateKey
    contentType: 'text/plain; HMAC key of the Web PubSub connection state'
  }
}

resource calendarFeedKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'calendar-feed-key'
  properties: {
    value: calendarFeedKey
    contentType: 'text/plain; HMAC key of the calendar feed URLs'
  }
}

resource stripeSecretKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/payments.md instead.
  parent: vault
  name: 'stripe-secret-key'
  properties: {
    value: stripeSecretKey
    contentType: 'text/plain; Stripe secret API key'
  }
}

resource razorpayKeySecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/payments.md instead.
  parent: vault
  name: 'razorpay-key-secret'
  properties: {
    value: razorpayKeySecret
    contentType: 'text/plain; Razorpay key secret'
  }
}

resource razorpayWebhookSecretsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/payments.md instead.
  parent: vault
  name: 'razorpay-webhook-secrets'
  properties: {
    value: razorpayWebhookSecrets
    contentType: 'text/plain; comma-separated Razorpay webhook secrets'
  }
}

// Versionless URIs: a Key Vault reference to them follows the newest version, so a
// rotation needs no template change.
output videoSigningKeyUri string = videoSigningKeySecret.properties.secretUri
output paymentWebhookSecretsUri string = paymentWebhookSecretsSecret.properties.secretUri
output connectionStateKeyUri string = connectionStateKeySecret.properties.secretUri
output calendarFeedKeyUri string = calendarFeedKeySecret.properties.secretUri
output stripeSecretKeyUri string = stripeSecretKeySecret.properties.secretUri
output razorpayKeySecretUri string = razorpayKeySecretSecret.properties.secretUri
output razorpayWebhookSecretsUri string = razorpayWebhookSecretsSecret.properties.secretUri
