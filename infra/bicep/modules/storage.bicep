// The one storage account: the Functions host (leases, timers, queue triggers), the app's
// queues and tables, learning materials in blobs, and the Flex Consumption deployment
// package. Nothing authenticates with an account key: the function app uses its managed
// identity, and the SAS URLs it hands to browsers for materials are user-delegation SAS
// (signed with a key obtained through that identity), which keep working with
// allowSharedKeyAccess: false, unlike account-key SAS.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

// Named `replication` rather than `skuName`: the offline checker (checkov) links
// same-named parameters of different modules and then judges this one by another's value.
@description('Replication; geo-redundant by default so uploaded materials survive a regional outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param replication string = 'Standard_GRS'

@description('Blob containers to create.')
param containerNames array

@description('The container of learning materials; uploads never published are deleted from it after a day.')
param materialsContainerName string

@description('Days an upload may wait under the upload prefix before the lifecycle rule deletes it.')
@minValue(1)
param unpublishedUploadDays int = 1

@description('The container of full privacy exports; each file holds everything about one person.')
param privacyExportsContainerName string

@description('Days a privacy export may be downloaded; the lifecycle rule deletes any file a day after that.')
@minValue(1)
param privacyExportDays int = 7

@description('Queues to create (poison queues included, so alerts and the admin API find them before the first failure).')
param queueNames array

@description('Tables to create.')
param tableNames array

@description('Browser origins allowed to PUT/GET blobs with the SAS URLs the app hands out.')
param corsAllowedOrigins array

@description('Days a deleted blob or container can be restored.')
@minValue(1)
@maxValue(365)
param deleteRetentionDays int = 14

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Browsers upload and download materials straight to blob storage with short-lived user-delegation SAS URLs, so the endpoint must accept internet traffic; every request needs Entra ID or such a SAS (shared keys and anonymous blob access are off).
  //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public network access stays enabled for the SAS URLs used from users' browsers; allowBlobPublicAccess and allowSharedKeyAccess are false.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: replication
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Entra ID only: the app's managed identity, and user-delegation SAS for browsers.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

// Browsers PUT uploads and GET downloads straight to blob storage with the SAS URLs.
var corsRule = {
  allowedOrigins: corsAllowedOrigins
  allowedMethods: [
    'GET'
    'HEAD'
    'PUT'
    'OPTIONS'
  ]
  allowedHeaders: [
    'content-type'
    'content-length'
    'x-ms-blob-type'
    'x-ms-blob-content-type'
    'x-ms-client-request-id'
    'x-ms-date'
    'x-ms-version'
  ]
  exposedHeaders: [
    'etag'
    'content-length'
    'x-ms-request-id'
  ]
  maxAgeInSeconds: 3600
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    cors: {
      corsRules: empty(corsAllowedOrigins) ? [] : [
        corsRule
      ]
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

// Pending uploads live under `uploads/` (publishing copies them to `courses/`), so this rule
// deletes only uploads nobody published. The app's hourly timer removes them (and their rows)
// first; this is the backstop for a blob whose delete failed or whose row is already gone.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-unpublished-uploads'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${materialsContainerName}/uploads/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: unpublishedUploadDays
                }
              }
            }
          }
        }
        {
          // The app's hourly timer deletes an export's file when its time is up; this is
          // the backstop for a file whose delete failed.
          name: 'delete-expired-privacy-exports'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${privacyExportsContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: privacyExportDays + 1
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueServiceId string = queueService.id
