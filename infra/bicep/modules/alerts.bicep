// Alert rules and the action group that mails the operators. Metric alerts where the
// platform publishes the metric; log queries over Application Insights where the signal
// is only in telemetry (error rate, latency, poison messages).

param location string
param tags object

@description('Prefix for alert rule names.')
param namePrefix string

param actionGroupName string

@description('Address that receives every alert.')
param alertEmail string

param applicationInsightsId string
param postgresServerId string
param redisId string

@description('Metric namespace of the Redis resource (Microsoft.Cache/redisEnterprise or Microsoft.Cache/redis).')
param redisMetricNamespace string = 'Microsoft.Cache/redisEnterprise'
param webPubSubId string

@description('URL of the app\'s health endpoint, probed by an availability test.')
param healthUrl string

@description('Name of the queue whose arrivals mean a side effect failed for good.')
param poisonQueueName string

@description('Percentage of HTTP requests failing (5xx or exception) over 5 minutes that raises an alert.')
param errorRatePercentThreshold int = 5

@description('95th percentile HTTP latency in milliseconds over 5 minutes that raises an alert.')
param latencyP95MsThreshold int = 1000

@description('Percent for the resource-usage alerts (PostgreSQL CPU and storage, Redis memory, Web PubSub connections).')
param usagePercentThreshold int = 80

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'lectern'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// --- log alerts over Application Insights ------------------------------------------------
// Requests with too few calls in the window are ignored, so one failed call at 3 a.m. is
// not "100% errors".
var logAlerts = [
  {
    name: 'function-error-rate'
    description: 'More than ${errorRatePercentThreshold}% of HTTP requests failed (5xx or unhandled exception) in 5 minutes.'
    severity: 1
    query: 'requests | where isnotempty(url) | summarize total = count(), failed = countif(success == false or toint(resultCode) >= 500) | where total >= 20 | project errorRatePercent = 100.0 * failed / total'
    measure: 'errorRatePercent'
    aggregation: 'Maximum'
    threshold: errorRatePercentThreshold
  }
  {
    name: 'function-latency-p95'
    description: 'The 95th percentile of HTTP request duration exceeded ${latencyP95MsThreshold} ms over 5 minutes.'
    severity: 2
    query: 'requests | where isnotempty(url) | summarize total = count(), p95 = percentile(duration, 95) | where total >= 20 | project p95'
    measure: 'p95'
    aggregation: 'Maximum'
    threshold: latencyP95MsThreshold
  }
  {
    // Storage publishes queue length only for the whole account (QueueMessageCount has
    // no per-queue dimension), so a metric alert cannot single out the poison queue while
    // the outbox queue is busy. The app moves a failed effect to '<queue>-poison' itself
    // (the host's own MaxDequeueCount move never happens: the outbox trigger does not
    // throw) and logs one error "effect <kind> gave up after <n> attempts" through the
    // lectern.* loggers that telemetry.py exports; counting those fires within minutes of
    // the first poisoned message. tests/infra/test_alerts.py ties this text to the code.
    name: 'poison-queue-messages'
    description: 'A message was moved to ${poisonQueueName}: a side effect failed after every retry. See GET /api/admin/deadletters.'
    severity: 1
    query: 'traces | where severityLevel >= 3 and message contains "gave up after" | summarize moved = count() | project moved'
    measure: 'moved'
    aggregation: 'Total'
    threshold: 0
  }
  {
    // The payment webhooks log one warning with paymentMismatch=1 for each signed event that
    // names no purchase of ours, or the wrong amount, currency or mode (docs/payments.md).
    name: 'payment-mismatch'
    description: 'A signed payment event did not match a purchase (unknown, wrong amount, currency or mode). See the payment.mismatch rows in GET /api/admin/audit.'
    severity: 2
    query: 'traces | where message == "payment mismatch" and toint(customDimensions.paymentMismatch) == 1 | summarize mismatches = count() | project mismatches'
    measure: 'mismatches'
    aggregation: 'Total'
    threshold: 0
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [
  for alert in logAlerts: {
    name: '${namePrefix}${alert.name}'
    location: location
    tags: tags
    properties: {
      displayName: '${namePrefix}${alert.name}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        applicationInsightsId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT5M'
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: alert.aggregation
            metricMeasureColumn: alert.measure
            operator: 'GreaterThan'
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
]

// --- availability of GET /api/health --------------------------------------------------
// Probed from three regions every five minutes; the endpoint answers 503 when a
// dependency (PostgreSQL, Redis, storage, Web PubSub) is down, so this also catches those.
var healthTestName = '${namePrefix}health'

resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: healthTestName
  location: location
  // The hidden link is how Application Insights lists the test as its own.
  tags: union(tags, {
    'hidden-link:${applicationInsightsId}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: healthTestName
    Name: 'GET /api/health'
    Kind: 'standard'
    Enabled: true
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    Locations: [
      {
        Id: 'us-va-ash-azr'
      }
      {
        Id: 'emea-nl-ams-azr'
      }
      {
        Id: 'apac-sg-sin-azr'
      }
    ]
    Request: {
      RequestUrl: healthUrl
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 14
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}health-availability'
  location: 'global'
  tags: tags
  properties: {
    description: 'GET /api/health failed from two or more regions: the API is down or a dependency is.'
    severity: 1
    enabled: true
    scopes: [
      healthTest.id
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: applicationInsightsId
      failedLocationCount: 2
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// --- metric alerts ---------------------------------------------------------------------
var metricAlerts = [
  {
    name: 'postgres-cpu'
    description: 'PostgreSQL CPU above ${usagePercentThreshold}% for 15 minutes.'
    scope: postgresServerId
    namespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
    metric: 'cpu_percent'
    aggregation: 'Average'
    window: 'PT15M'
  }
  {
    name: 'postgres-storage'
    description: 'PostgreSQL storage above ${usagePercentThreshold}% (autogrow raises it, but only in steps and never back).'
    scope: postgresServerId
    namespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
    metric: 'storage_percent'
    aggregation: 'Maximum'
    window: 'PT15M'
  }
  {
    name: 'redis-memory'
    description: 'Redis memory above ${usagePercentThreshold}%: cached keys are being evicted and write-behind state is at risk.'
    scope: redisId
    namespace: redisMetricNamespace
    metric: 'usedmemorypercentage'
    aggregation: 'Maximum'
    window: 'PT5M'
  }
  {
    name: 'webpubsub-connection-quota'
    description: 'Web PubSub connections above ${usagePercentThreshold}% of the units\' quota: add units before students are refused.'
    scope: webPubSubId
    namespace: 'Microsoft.SignalRService/WebPubSub'
    metric: 'ConnectionQuotaUtilization'
    aggregation: 'Maximum'
    window: 'PT5M'
  }
]

resource metricAlertRules 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for alert in metricAlerts: {
    name: '${namePrefix}${alert.name}'
    location: 'global'
    tags: tags
    properties: {
      description: alert.description
      severity: 2
      enabled: true
      scopes: [
        alert.scope
      ]
      evaluationFrequency: 'PT5M'
      windowSize: alert.window
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: alert.metric
            metricNamespace: alert.namespace
            metricName: alert.metric
            operator: 'GreaterThan'
            threshold: usagePercentThreshold
            timeAggregation: alert.aggregation
          }
        ]
      }
      autoMitigate: true
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

output actionGroupId string = actionGroup.id
