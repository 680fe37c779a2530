Feature: Fraud Hotzone Alert REST API and anomaly subscriptions

  # Test scenarios in the style of CAMARA's Test_definitions: the sunny day first, then each
  # error. Each one names the automated test that runs it against a real server
  # (tests/integration/rest.rs and subscriptions.rs), or the CI step (.ci/run: schemathesis).
  #
  # Background for every scenario: the server runs `hotzone serve --http-listen HOST:PORT`
  # over data in which +886912345001 received three calls from Nigeria (NG) on 2026-03-10
  # and made one other call that day; "apiRoot" is http(s)://HOST:PORT.

  Background:
    Given the resource "{apiRoot}/fraud-hotzone-alert/v0/check"
    And the header "Content-Type" is set to "application/json"
    And the header "Authorization" is set to a valid token with the scope "check"
    And the header "x-correlator" is set to a string matching "^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$"

  # ---------------------------------------------------------------- check: sunny day

  @check_01_anomaly_detected
  Scenario: An anomalous day in the window is reported with its date
    Given a request body with "phoneNumber" "+886912345001", "lookBackDays" 7, "thresholdRatio" 0.5, "fraudHotZone" ["NG"], "asOf" "2026-03-10"
    When the request "checkFraudHotzone" is sent
    Then the response status code is 200
    And the response body is exactly {"anomalyDetected": true, "anomalyDate": "2026-03-10"}
    And the response header "x-correlator" has the request's value
    # rest::each_rest_error_path_has_its_status_code_and_field

  @check_02_no_anomaly
  Scenario: A known number without anomaly has no anomalyDate
    Given the same body with "fraudHotZone" ["JM"]
    When the request "checkFraudHotzone" is sent
    Then the response status code is 200
    And the response body is exactly {"anomalyDetected": false}

  @check_03_same_as_grpc
  Scenario: REST answers what gRPC Check answers
    Given every conformance case of tests/conformance and a grid of parameters on generated data
    When each subscriber is checked over REST and over gRPC
    Then both answers are equal, verdicts and errors alike
    # rest::rest_equals_grpc_over_every_conformance_case, rest_equals_grpc_over_a_parameter_grid_on_generated_data

  # ---------------------------------------------------------------- check: errors

  @check_10_invalid_phone_number
  Scenario Outline: A malformed phoneNumber is INVALID_ARGUMENT
    Given the body with "phoneNumber" <value>
    When the request "checkFraudHotzone" is sent
    Then the response status code is 400
    And the response property "$.code" is "INVALID_ARGUMENT"
    And the response property "$.message" names "phoneNumber" and contains no phone number
    Examples:
      | value          |
      | "886912345001" |
      | "+0886912345"  |
      | 886912345001   |
      | (absent)       |

  @check_11_out_of_range
  Scenario Outline: A value past a limit is OUT_OF_RANGE naming the field
    Given the body with <field> <value>
    When the request "checkFraudHotzone" is sent
    Then the response status code is 400
    And the response property "$.code" is "OUT_OF_RANGE"
    And the response property "$.message" names <field>
    Examples:
      | field            | value                        |
      | "lookBackDays"   | 0                            |
      | "lookBackDays"   | above the server's maximum   |
      | "thresholdRatio" | 1.5 (SHARE)                  |
      | "thresholdRatio" | 0.5 with "method" "SPIKE"    |
      | "minEvents"      | 0                            |

  @check_12_invalid_argument
  Scenario Outline: A wrong type, enum, date, region or unknown field is INVALID_ARGUMENT
    Given the body with <field> <value>
    When the request "checkFraudHotzone" is sent
    Then the response status code is 400
    And the response property "$.code" is "INVALID_ARGUMENT"
    And the response property "$.message" names <field>
    Examples:
      | field            | value       |
      | "lookBackDays"   | "7"         |
      | "thresholdRatio" | (absent)    |
      | "method"         | "share"     |
      | "checkType"      | "FAX"       |
      | "asOf"           | "10/03/2026"|
      | "fraudHotZone"   | ["XX"]      |
      | "fraudHotZone"   | []          |
      | "hotzoneName"    | "unknown"   |
      | "colour"         | 1           |

  @check_13_malformed_body
  Scenario: A body that is not a JSON object, or too big, is INVALID_ARGUMENT
    Given a truncated JSON body, a form-encoded body, an empty body or a body above limits.max_request_bytes
    When the request "checkFraudHotzone" is sent
    Then the response status code is 400
    And the response property "$.code" is "INVALID_ARGUMENT"

  @check_14_unknown_number
  Scenario: A number without any event in the operator's data
    Given the body with "phoneNumber" "+99912345678"
    When the request "checkFraudHotzone" is sent
    Then the response status code is 404
    And the response property "$.code" is "IDENTIFIER_NOT_FOUND"

  @check_15_unauthenticated
  Scenario: Missing or invalid token
    Given no "Authorization" header, or a token the server does not know
    When the request "checkFraudHotzone" is sent
    Then the response status code is 401
    And the response property "$.code" is "UNAUTHENTICATED"
    # a malformed body is judged only after the credentials

  @check_16_permission_denied
  Scenario: A token without the scope "check"
    When the request "checkFraudHotzone" is sent
    Then the response status code is 403
    And the response property "$.code" is "PERMISSION_DENIED"

  @check_17_too_many_requests
  Scenario: The client's limit for one number is reached (shared with gRPC)
    Given the server's policy allows 2 checks of one number per client in a burst
    When the third check of the same number is sent
    Then the response status code is 429
    And the response property "$.code" is "TOO_MANY_REQUESTS"

  @check_18_unavailable
  Scenario: Data not loaded yet
    Given the server has not finished its first load
    When the request "checkFraudHotzone" is sent
    Then the response status code is 503
    And the response property "$.code" is "UNAVAILABLE"

  @check_19_invalid_correlator
  Scenario: An x-correlator breaking the pattern
    Given the header "x-correlator" is "a b"
    When the request "checkFraudHotzone" is sent
    Then the response status code is 400
    And the response property "$.message" names "x-correlator"

  @check_20_contract
  Scenario: Random requests built from the OpenAPI document
    Given schemathesis generates requests from api/fraud-hotzone-alert.yaml
    When they are sent to the release binary serving the sample data
    Then no response has a 5xx status
    And every response conforms to the document (status, content type, body schema)
    # .ci/run

  # ---------------------------------------------------------------- subscriptions: sunny day

  @subs_01_notified_once
  Scenario: A subscribed number turns anomalous: one CloudEvent
    Given the resource "{apiRoot}/fraud-hotzone-alert-subscriptions/v0/subscriptions"
    And a request body with "protocol" "HTTP", "sink" an https URL, "sinkCredential" an ACCESSTOKEN, "types" ["org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected"] and "config.subscriptionDetail" a number and check parameters
    When the request "createFraudHotzoneSubscription" is sent
    Then the response status code is 201 with "id", "startsAt", "expiresAt" and "status" "ACTIVE", and no "sinkCredential"
    And the subscription is on disk before the response
    When an ingest makes the number's check as of today anomalous
    Then the sink receives one CloudEvent of type "...anomaly-detected" with data {subscriptionId, phoneNumber, anomalyDate} and "Authorization: Bearer <accessToken>"
    When more data for the number leaves its anomalyDate unchanged
    Then the sink receives nothing more
    # subscriptions::notified_once_no_repeat_after_restart_ended_on_delete

  @subs_02_restart
  Scenario: Subscriptions and notified dates survive a restart
    Given a subscription already notified for a date
    When the server restarts and re-evaluates every subscription on its first load
    Then the subscription is listed again and the sink receives nothing

  @subs_03_deleted
  Scenario: Deleting ends the subscription
    When "deleteFraudHotzoneSubscription" is sent for its id
    Then the response status code is 204
    And the sink receives "...subscription-ended" with "terminationReason" "SUBSCRIPTION_DELETED"
    And getting or deleting the id again answers 404 "NOT_FOUND"

  @subs_04_ended
  Scenario Outline: A subscription ends by itself
    Given a subscription with <setting>
    When <event>
    Then the sink receives "...subscription-ended" with "terminationReason" <reason>
    Examples:
      | setting                              | event                      | reason                 |
      | subscriptionExpireTime in 4 s        | the time passes            | "SUBSCRIPTION_EXPIRED" |
      | accessTokenExpiresUtc in 4 s         | 2 s pass (half its life)   | "ACCESS_TOKEN_EXPIRED" |
      | subscriptionMaxEvents 1              | one anomaly is notified    | "MAX_EVENTS_REACHED"   |
    # subscriptions::subscriptions_end_on_expiry_token_expiry_and_max_events

  @subs_04b_token_end_before_expiry
  Scenario: ACCESS_TOKEN_EXPIRED arrives before the token expires, with the token
    Given a subscription whose "accessTokenExpiresUtc" is 10 s ahead
    Then the sink receives "...subscription-ended" with "terminationReason" "ACCESS_TOKEN_EXPIRED" before that time, with "Authorization: Bearer <accessToken>"
    And the subscription is gone (404)
    # 60 s before the expiry; halfway through a token's life when it lives less than 120 s
    # subscriptions::the_token_end_is_sent_before_the_token_expires

  @subs_05_slow_sink
  Scenario: A sink that never answers does not slow checks
    Given the sink holds every callback without answering
    When an anomaly is notified to it
    Then checks over REST and gRPC, and ingests, keep answering while the callback waits
    # subscriptions::a_hanging_sink_does_not_hold_up_checks_or_ingests

  @subs_06_retries
  Scenario: A failing sink is retried a bounded number of times
    Given the sink answers 503
    Then the callback is attempted sink_attempts times, then given up, and both are counted in the metrics
    # subscriptions::a_failing_sink_is_retried_then_given_up_and_counted

  @subs_06b_gone
  Scenario: A sink answering 410 Gone ends its subscription
    Given the sink answers 410
    When an anomaly is notified to it
    Then the callback is not retried and no "...subscription-ended" is sent to it
    And getting or deleting the subscription answers 404 "NOT_FOUND", its file removed
    # 401 and 403 are retried, then given up, as other refusals
    # subscriptions::a_sink_answering_410_gone_ends_its_subscription

  # ---------------------------------------------------------------- subscriptions: errors

  @subs_10_insecure_sink
  Scenario Outline: A sink that is not https on a public address is refused
    Given the server runs without --allow-insecure-sinks
    And the request body with "sink" <sink>
    When the request "createFraudHotzoneSubscription" is sent
    Then the response status code is 400 "INVALID_SINK" naming "sink"
    Examples:
      | sink                            |
      | "http://sink.example.com/cb"    |
      | "https://127.0.0.1:9/cb"        |
      | "https://localhost/cb"          |
      | "https://10.1.2.3/cb"           |
      | "https://192.168.1.1/cb"        |
      | "https://169.254.169.254/latest"|
      | "https://[::1]/cb"              |
    # subscriptions::private_sinks_and_bad_subscriptions_are_refused

  @subs_11_invalid_request
  Scenario Outline: A malformed subscription is refused with CAMARA's code, naming the field
    Given the request body with <change>
    When the request "createFraudHotzoneSubscription" is sent
    Then the response status code is <status> with "code" <code> and the message names <field>
    Examples:
      | change                                         | status | code                                     | field                      |
      | "protocol" "MQTT3"                             | 400    | "INVALID_PROTOCOL"                       | "protocol"                 |
      | "types" ["x"]                                  | 400    | "INVALID_ARGUMENT"                       | "types"                    |
      | "types" with two event types                   | 422    | "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED"  | "types"                    |
      | no "config"                                    | 400    | "INVALID_ARGUMENT"                       | "config"                   |
      | a malformed "phoneNumber" in the detail        | 400    | "INVALID_ARGUMENT"                       | "phoneNumber"              |
      | "asOf" in the detail                           | 400    | "INVALID_ARGUMENT"                       | "asOf"                     |
      | "thresholdRatio" 2 (SHARE)                     | 400    | "OUT_OF_RANGE"                           | "thresholdRatio"           |
      | "subscriptionExpireTime" in the past           | 400    | "INVALID_ARGUMENT"                       | "subscriptionExpireTime"   |
      | "subscriptionMaxEvents" 0                      | 400    | "OUT_OF_RANGE"                           | "subscriptionMaxEvents"    |
      | "credentialType" "PLAIN"                       | 400    | "INVALID_CREDENTIAL"                     | "credentialType"           |
      | "accessTokenType" "mac"                        | 400    | "INVALID_TOKEN"                          | "accessTokenType"          |
    # subscriptions::private_sinks_and_bad_subscriptions_are_refused

  @subs_12_not_found
  Scenario: An unknown id, or another client's subscription
    When "getFraudHotzoneSubscription" is sent for an id the caller does not own
    Then the response status code is 404 "NOT_FOUND"
