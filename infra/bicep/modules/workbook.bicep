// An Azure Monitor workbook for a live class: the `lectern` meter's metrics (shared_code/
// metrics.py) charted from Application Insights' customMetrics, filtered by class where the
// metric has one. tests/infra/test_workbook.py checks that every metric charted here is one
// the code records, and that every metric the code records is charted.

param location string
param tags object

@description('Name shown in the portal.')
param displayName string

@description('The Application Insights resource the app exports its telemetry to.')
param applicationInsightsId string

// One tile per chart: its title, its KQL over customMetrics, and how to draw it.
// Counters and histograms arrive as deltas per export interval (valueSum / valueCount);
// gauges and the up-down counter as each instance's latest value, summed across instances.
var tiles = [
  {
    title: 'Live connections in the class'
    query: 'customMetrics | where name == "lectern.live.connections" | extend classId = tostring(customDimensions.class_id) | where "{ClassId}" == "" or classId == "{ClassId}" | summarize v = max(value) by bin(timestamp, 1m), cloud_RoleInstance, classId | summarize connections = sum(v) by timestamp, classId'
    chart: 'timechart'
  }
  {
    title: 'Votes and other client events per minute'
    query: 'customMetrics | where name == "lectern.live.events" | extend event = tostring(customDimensions.event) | summarize events = sum(valueSum) by bin(timestamp, 1m), event'
    chart: 'timechart'
  }
  {
    title: 'Ack latency (ms): mean and worst per minute'
    query: 'customMetrics | where name == "lectern.live.ack_latency" | summarize meanMs = sum(valueSum) / sum(valueCount), maxMs = max(valueMax) by bin(timestamp, 1m)'
    chart: 'timechart'
  }
  {
    title: 'Heartbeats per minute'
    query: 'customMetrics | where name == "lectern.http.requests" and tostring(customDimensions.operation) == "record_progress" | summarize heartbeats = sum(valueSum) by bin(timestamp, 1m)'
    chart: 'timechart'
  }
  {
    title: 'Outbox depth and poison messages'
    query: 'customMetrics | where name in ("lectern.outbox.depth", "lectern.outbox.poison") | summarize messages = max(value) by bin(timestamp, 1m), name'
    chart: 'timechart'
  }
  {
    title: 'Content cache hit ratio (%)'
    query: 'customMetrics | where name == "lectern.cache.reads" | extend result = tostring(customDimensions.result) | summarize hits = sumif(valueSum, result == "hit"), total = sum(valueSum) by bin(timestamp, 1m) | project timestamp, hitRatio = iff(total == 0, real(null), 100.0 * hits / total)'
    chart: 'timechart'
  }
  {
    title: 'Circuit breakers (0 closed, 1 open, 2 probing)'
    query: 'customMetrics | where name == "lectern.breaker.state" | extend dependency = tostring(customDimensions.dependency) | summarize state = max(value) by bin(timestamp, 1m), dependency'
    chart: 'timechart'
  }
  {
    title: 'Payment mismatches'
    query: 'customMetrics | where name == "lectern.payments.mismatches" | extend reason = tostring(customDimensions.reason) | summarize mismatches = sum(valueSum) by reason'
    chart: 'table'
  }
]

var parameterItem = {
  type: 9
  name: 'parameters'
  content: {
    version: 'KqlParameterItem/1.0'
    parameters: [
      {
        id: 'class-id'
        version: 'KqlParameterItem/1.0'
        name: 'ClassId'
        label: 'Class id (empty: every class)'
        type: 1
        isRequired: false
        value: ''
      }
      {
        id: 'time-range'
        version: 'KqlParameterItem/1.0'
        name: 'TimeRange'
        type: 4
        isRequired: true
        value: {
          durationMs: 3600000
        }
      }
    ]
  }
}

var chartItems = [for (tile, i) in tiles: {
  type: 3
  name: 'tile-${i}'
  content: {
    version: 'KqlItem/1.0'
    title: tile.title
    query: tile.query
    size: 0
    timeContextFromParameter: 'TimeRange'
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: tile.chart
  }
  customWidth: '50'
}]

var workbook = {
  version: 'Notebook/1.0'
  items: concat([parameterItem], chartItems)
  isLocked: false
  fallbackResourceIds: [
    applicationInsightsId
  ]
}

resource liveClass 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'lectern-live-class')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string(workbook)
  }
}

output id string = liveClass.id
