// Azure Web PubSub for live classes, with hub `live` whose event handler is the function
// app's /api/webpubsub/events. Both ways of authenticating stay on, for different jobs:
// the app calls the REST API with its managed identity (Web PubSub Service Owner, granted
// in role-assignments.bicep), and it checks the `ce-signature` of upstream calls with the
// access key, which therefore sits in Key Vault as the connection string.

param name string
param location string
param tags object

@allowed([
  1
  2
  3
  4
  5
  6
  7
  8
  9
  10
  20
  30
  40
  50
  60
  70
  80
  90
  100
])
@description('Standard units; each unit carries 1,000 concurrent connections.')
param units int

@description('Hub name the app uses (WebPubSubHub).')
param hubName string

@description('Host name of the function app that receives the events.')
param eventHandlerHost string

param keyVaultName string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard_S1'
    tier: 'Standard'
    capacity: units
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    tls: {
      clientCertEnabled: false
    }
    // Students connect from anywhere: the client endpoint is public and guarded by the
    // short-lived access tokens negotiate hands out.
    publicNetworkAccess: 'Enabled'
    // The access key must stay enabled: upstream signatures are HMACs made with it.
    disableLocalAuth: false
    disableAadAuth: false
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    // Every client must come through negotiate, which issues a token for one class.
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: 'https://${eventHandlerHost}/api/webpubsub/events'
        userEventPattern: '*'
        // No 'connected': the handler counts a member present when it accepts `connect`, and
        // the service always sends `disconnected` after an accepted `connect`.
        systemEvents: [
          'connect'
          'disconnected'
        ]
        auth: {
          type: 'None'
        }
      }
    ]
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource connectionStringSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:No expiry on purpose: the app reads this secret through a versionless Key Vault reference, and an expiry date would make the reference stop resolving and take the app down at that moment; rotation follows docs/DEPLOY.md instead.
  parent: vault
  name: 'webpubsub-connection-string'
  properties: {
    value: webPubSub.listKeys().primaryConnectionString
    contentType: 'text/plain; Web PubSub connection string (access key checks upstream signatures)'
  }
}

output id string = webPubSub.id
output name string = webPubSub.name
output endpoint string = 'https://${webPubSub.properties.hostName}'
output hubName string = hub.name
output connectionStringSecretUri string = connectionStringSecret.properties.secretUri
