/// The OpenAPI 3.1 description of every route, served at `/openapi.json`. A test checks each route's real
/// responses against it, so it stays true.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Sluice",
            "version": "0.3.0",
            "description": "Database-backed job queue for ingestion and vectorization. Errors are always {\"error\": string}."
          },
          "components": {
            "securitySchemes": {
              "session": {"type": "apiKey", "in": "cookie", "name": "sluice_session"},
              "apiToken": {"type": "http", "scheme": "bearer", "bearerFormat": "sluice_<43 characters>", "description": "An API token (sluice tokens create, or POST /api/admin/tokens) acting with its role; needs no Origin check"},
              "cronSecret": {"type": "http", "scheme": "bearer", "description": "CRON_SECRET; required in production"}
            },
            "schemas": {
              "Error": {
                "type": "object", "required": ["error"], "additionalProperties": false,
                "properties": {"error": {"type": "string"}}
              },
              "APIToken": {
                "type": "object", "required": ["id", "name", "role", "createdAt", "expiresAt", "lastUsedAt"],
                "additionalProperties": false,
                "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"},
                  "role": {"enum": ["VIEWER", "MANAGER", "ADMIN"]},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "expiresAt": {"type": ["string", "null"], "format": "date-time"},
                  "lastUsedAt": {"type": ["string", "null"], "format": "date-time"}
                }
              },
              "User": {
                "type": "object", "required": ["id", "email", "role"], "additionalProperties": false,
                "properties": {
                  "id": {"type": "string"}, "email": {"type": "string"},
                  "role": {"enum": ["VIEWER", "MANAGER", "ADMIN"]}
                }
              },
              "Progress": {
                "type": ["object", "null"], "required": ["current", "total", "message"], "additionalProperties": false,
                "properties": {"current": {"type": "integer"}, "total": {"type": "integer"}, "message": {"type": "string"}}
              },
              "Job": {
                "type": "object", "additionalProperties": false,
                "required": ["id", "jobType", "status", "priority", "attempts", "maxAttempts", "progress", "result",
                             "createdAt", "startedAt", "completedAt"],
                "properties": {
                  "id": {"type": "string"},
                  "jobType": {"type": "string", "description": "INGEST_DATA, VECTORIZE, or an application's own type"},
                  "status": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
                  "priority": {"type": "integer"}, "attempts": {"type": "integer"}, "maxAttempts": {"type": "integer"},
                  "progress": {"$ref": "#/components/schemas/Progress"},
                  "result": {},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "startedAt": {"type": ["string", "null"], "format": "date-time"},
                  "completedAt": {"type": ["string", "null"], "format": "date-time"}
                }
              },
              "JobDetail": {
                "type": "object", "additionalProperties": false,
                "required": ["id", "jobType", "status", "priority", "attempts", "maxAttempts", "progress", "result",
                             "createdAt", "startedAt", "completedAt", "scheduledFor", "uniqueKey", "payloadBytes",
                             "errors", "lease"],
                "properties": {
                  "id": {"type": "string"}, "jobType": {"type": "string"},
                  "status": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
                  "priority": {"type": "integer"}, "attempts": {"type": "integer"}, "maxAttempts": {"type": "integer"},
                  "progress": {"$ref": "#/components/schemas/Progress"},
                  "result": {},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "startedAt": {"type": ["string", "null"], "format": "date-time"},
                  "completedAt": {"type": ["string", "null"], "format": "date-time"},
                  "scheduledFor": {"type": "string", "format": "date-time"},
                  "uniqueKey": {"type": ["string", "null"]},
                  "payloadBytes": {"type": ["integer", "null"], "description": "size of the payload; the payload itself is not shown"},
                  "errors": {
                    "type": "array",
                    "items": {
                      "type": "object", "required": ["attempt", "at", "message"], "additionalProperties": false,
                      "properties": {"attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "message": {"type": "string"}}
                    }
                  },
                  "lease": {
                    "type": ["object", "null"], "required": ["owner", "expiresAt", "expired"], "additionalProperties": false,
                    "properties": {"owner": {"type": "string"}, "expiresAt": {"type": ["string", "null"], "format": "date-time"}, "expired": {"type": "boolean"}}
                  }
                }
              },
              "QueueStatsResponse": {
                "type": "object", "required": ["queueStats", "recentJobs", "oldestPendingJob"], "additionalProperties": false,
                "properties": {
                  "queueStats": {
                    "type": "object", "required": ["pending", "processing", "completed", "failed"], "additionalProperties": false,
                    "properties": {"pending": {"type": "integer"}, "processing": {"type": "integer"}, "completed": {"type": "integer"}, "failed": {"type": "integer"}}
                  },
                  "recentJobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                  "oldestPendingJob": {
                    "type": ["object", "null"], "required": ["id", "createdAt", "ageMinutes"], "additionalProperties": false,
                    "properties": {"id": {"type": "string"}, "createdAt": {"type": "string", "format": "date-time"}, "ageMinutes": {"type": "integer"}}
                  }
                }
              },
              "JobActionResponse": {
                "type": "object", "required": ["success", "jobId"], "additionalProperties": false,
                "properties": {"success": {"const": true}, "jobId": {"type": "string"}}
              },
              "WorkerResponse": {
                "type": "object", "required": ["success", "processed", "duration"], "additionalProperties": false,
                "properties": {"success": {"const": true}, "processed": {"type": "integer"}, "duration": {"type": "integer", "description": "milliseconds"}}
              },
              "Project": {
                "type": "object", "additionalProperties": false,
                "required": ["id", "name", "embeddingModel", "embeddingDimensions", "recordCount", "embeddedCount", "createdAt"],
                "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"},
                  "embeddingModel": {"type": ["string", "null"]}, "embeddingDimensions": {"type": ["integer", "null"]},
                  "recordCount": {"type": "integer"}, "embeddedCount": {"type": "integer"},
                  "createdAt": {"type": "string", "format": "date-time"}
                }
              },
              "IngestJob": {
                "type": "object", "additionalProperties": false,
                "required": ["id", "projectId", "status", "total", "processed", "saved", "skipped", "error", "createdAt", "startedAt", "completedAt"],
                "properties": {
                  "id": {"type": "string"}, "projectId": {"type": "string"},
                  "status": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
                  "total": {"type": "integer"}, "processed": {"type": "integer"}, "saved": {"type": "integer"}, "skipped": {"type": "integer"},
                  "error": {"type": ["string", "null"]},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "startedAt": {"type": ["string", "null"], "format": "date-time"},
                  "completedAt": {"type": ["string", "null"], "format": "date-time"}
                }
              },
              "CleanupResponse": {
                "type": "object", "required": ["success", "deletedCount"], "additionalProperties": false,
                "properties": {"success": {"const": true}, "deletedCount": {"type": "integer"}}
              }
            },
            "responses": {
              "BadRequest": {"description": "Malformed request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Unauthorized": {"description": "Not signed in, or wrong CRON_SECRET", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Forbidden": {"description": "Role too low, or a cross-site request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "NotFound": {"description": "No such job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "ServerError": {"description": "Server fault, or CRON_SECRET unset in production", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Unavailable": {"description": "Database unreachable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "UnsupportedMediaType": {"description": "The body was not sent as application/json", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Conflict": {"description": "The name is taken", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "parameters": {
              "jobId": {"name": "jobId", "in": "query", "required": true, "schema": {"type": "string"}}
            }
          },
          "paths": {
            "/health": {
              "get": {
                "summary": "Database reachable and schema current",
                "responses": {
                  "200": {"description": "Healthy", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status", "database"], "additionalProperties": false,
                    "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}}}}}},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/metrics": {
              "get": {
                "summary": "Prometheus metrics: queue depth by type and state, oldest pending age, job counters and durations",
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
              }
            },
            "/api/auth/login": {
              "post": {
                "summary": "Sign in; sets the session cookie",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["email", "password"],
                  "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {
                  "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                  "200": {"description": "Signed in", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["user", "expiresAt"], "additionalProperties": false,
                    "properties": {"user": {"$ref": "#/components/schemas/User"}, "expiresAt": {"type": "string", "format": "date-time"}}}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "413": {"description": "Body too large", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "429": {"description": "Too many failed sign-ins; see Retry-After", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              }
            },
            "/api/auth/logout": {
              "post": {
                "summary": "Sign out; ends the session and clears the cookie",
                "responses": {
                  "200": {"description": "Signed out", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["success"], "additionalProperties": false, "properties": {"success": {"const": true}}}}}},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/api/auth/me": {
              "get": {
                "summary": "The signed-in user",
                "security": [{"session": []}, {"apiToken": []}],
                "responses": {
                  "200": {"description": "Signed in", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["user"], "additionalProperties": false,
                    "properties": {"user": {"$ref": "#/components/schemas/User"}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/api/admin/queue/stats": {
              "get": {
                "summary": "Queue statistics, recent jobs and the oldest pending job (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                  {"name": "status", "in": "query", "schema": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]}},
                  {"name": "jobType", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {
                  "200": {"description": "Statistics", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueueStatsResponse"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/api/admin/queue/retry": {
              "post": {
                "summary": "Send a FAILED job back to PENDING (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"$ref": "#/components/parameters/jobId"}],
                "responses": {
                  "200": {"description": "Retried", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobActionResponse"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "500": {"$ref": "#/components/responses/ServerError"}
                }
              }
            },
            "/api/admin/queue/cancel": {
              "post": {
                "summary": "Cancel a PENDING or PROCESSING job (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"$ref": "#/components/parameters/jobId"}],
                "responses": {
                  "200": {"description": "Cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobActionResponse"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "500": {"$ref": "#/components/responses/ServerError"}
                }
              }
            },
            "/api/admin/queue/jobs/{id}": {
              "get": {
                "summary": "One job: result, attempt errors, progress, lease (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobDetail"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/admin/queue/throughput": {
              "get": {
                "summary": "Completed and failed jobs per minute, oldest minute first, zeros included (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "minutes", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60}}],
                "responses": {
                  "200": {"description": "One entry per minute", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["minutes", "completed", "failed"], "additionalProperties": false,
                    "properties": {
                      "minutes": {"type": "array", "items": {
                        "type": "object", "required": ["minute", "completed", "failed"], "additionalProperties": false,
                        "properties": {"minute": {"type": "string", "format": "date-time"}, "completed": {"type": "integer"}, "failed": {"type": "integer"}}}},
                      "completed": {"type": "integer"}, "failed": {"type": "integer"}
                    }}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/api/admin/queue/bulk": {
              "get": {
                "summary": "How many jobs a bulk action would change: FAILED ones for retry, PENDING and PROCESSING ones for cancel (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [
                  {"name": "action", "in": "query", "required": true, "schema": {"enum": ["retry", "cancel"]}},
                  {"name": "status", "in": "query", "schema": {"enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]}},
                  {"name": "jobType", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {
                  "200": {"description": "The count, and the most one action changes", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["action", "matching", "limit"], "additionalProperties": false,
                    "properties": {"action": {"enum": ["retry", "cancel"]}, "matching": {"type": "integer"}, "limit": {"type": "integer"}}}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              },
              "post": {
                "summary": "Retry or cancel, oldest first, up to SLUICE_BULK_ACTION_LIMIT of the jobs matching status and jobType (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["action"],
                  "properties": {"action": {"enum": ["retry", "cancel"]}, "status": {"type": "string"}, "jobType": {"type": "string"}}}}}},
                "responses": {
                  "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                  "200": {"description": "What changed", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["action", "changed", "jobIds", "skipped", "remaining", "limit"], "additionalProperties": false,
                    "properties": {
                      "action": {"enum": ["retry", "cancel"]}, "changed": {"type": "integer"},
                      "jobIds": {"type": "array", "items": {"type": "string"}},
                      "skipped": {"type": "integer", "description": "matched, but changed state before the action reached them"},
                      "remaining": {"type": "integer", "description": "still matching afterwards"},
                      "limit": {"type": "integer"}
                    }}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/api/projects": {
              "post": {
                "summary": "Create a project (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}}}}},
                "responses": {
                  "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                  "201": {"description": "Created", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["project"], "additionalProperties": false,
                    "properties": {"project": {"$ref": "#/components/schemas/Project"}}}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "409": {"description": "Name in use", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              },
              "get": {
                "summary": "Every project with its record and embedding counts (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "responses": {
                  "200": {"description": "Projects", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["projects"], "additionalProperties": false,
                    "properties": {"projects": {"type": "array", "items": {"$ref": "#/components/schemas/Project"}}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              }
            },
            "/api/projects/{id}": {
              "get": {
                "summary": "One project (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The project", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["project"], "additionalProperties": false,
                    "properties": {"project": {"$ref": "#/components/schemas/Project"}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/projects/{id}/ingest": {
              "post": {
                "summary": "Upload records (JSON or CSV with a header row); split into INGEST_DATA jobs (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [
                  {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                  {"name": "generateEmbeddings", "in": "query", "description": "CSV uploads only", "schema": {"enum": ["true", "false"]}},
                  {"name": "textFields", "in": "query", "description": "CSV uploads only; comma-separated", "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {
                  "application/json": {"schema": {
                    "type": "object", "required": ["records"],
                    "properties": {
                      "records": {"type": "array", "items": {}},
                      "generateEmbeddings": {"type": "boolean"},
                      "textFields": {"type": "array", "items": {"type": "string"}}
                    }}},
                  "text/csv": {"schema": {"type": "string"}}
                }},
                "responses": {
                  "202": {"description": "Queued", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ingestJobId", "jobId", "jobIds", "total"], "additionalProperties": false,
                    "properties": {
                      "ingestJobId": {"type": "string"}, "jobId": {"type": "string"},
                      "jobIds": {"type": "array", "items": {"type": "string"}}, "total": {"type": "integer"}
                    }}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "413": {"description": "Upload too large (SLUICE_MAX_INGEST_BYTES)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "503": {"description": "SLUICE_MAX_CONCURRENT_UPLOADS uploads are being read; see Retry-After", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "415": {"description": "Neither JSON nor CSV", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              }
            },
            "/api/projects/{id}/search": {
              "get": {
                "summary": "The k records nearest to a text, by cosine distance of their embeddings (any signed-in role)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [
                  {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                  {"name": "q", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 8192}},
                  {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
                ],
                "responses": {
                  "200": {"description": "Nearest first", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["projectId", "model", "results"], "additionalProperties": false,
                    "properties": {
                      "projectId": {"type": "string"}, "model": {"type": "string"},
                      "results": {"type": "array", "items": {
                        "type": "object", "required": ["id", "externalId", "text", "record", "distance"], "additionalProperties": false,
                        "properties": {
                          "id": {"type": "string"}, "externalId": {"type": ["string", "null"]}, "text": {"type": "string"},
                          "record": {}, "distance": {"type": "number"}
                        }}}
                    }}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"description": "No embeddings yet, or they come from another model than the configured one", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "429": {"description": "The embedding provider's rate limit, or more than SLUICE_SEARCHES_PER_MINUTE searches a minute; see Retry-After", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "502": {"description": "The embedding provider failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              }
            },
            "/api/projects/{id}/reembed": {
              "post": {
                "summary": "Forget the project's vectors and embed every record again with the configured model (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "202": {"description": "Queued", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["projectId", "clearedCount", "jobId"], "additionalProperties": false,
                    "properties": {"projectId": {"type": "string"}, "clearedCount": {"type": "integer"}, "jobId": {"type": "string"}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/ingest-jobs/{id}": {
              "get": {
                "summary": "An ingest job's status and counts (MANAGER, ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The ingest job", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ingestJob"], "additionalProperties": false,
                    "properties": {"ingestJob": {"$ref": "#/components/schemas/IngestJob"}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/admin/tokens": {
              "get": {
                "summary": "Every API token: name, role, created, last used, expiry; never the token (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "responses": {
                  "200": {"description": "The tokens, by name", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["tokens"], "additionalProperties": false,
                    "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/APIToken"}}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"}
                }
              },
              "post": {
                "summary": "Make an API token for a program; the token is in this answer only (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["name", "role"],
                  "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                 "role": {"enum": ["VIEWER", "MANAGER", "ADMIN"]},
                                 "expiresInDays": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}}}}}},
                "responses": {
                  "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                  "201": {"description": "Made", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["token", "apiToken"], "additionalProperties": false,
                    "properties": {"token": {"type": "string"}, "apiToken": {"$ref": "#/components/schemas/APIToken"}}}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "409": {"$ref": "#/components/responses/Conflict"}
                }
              }
            },
            "/api/admin/tokens/{id}": {
              "delete": {
                "summary": "Revoke an API token by id or name: the next request with it is refused (ADMIN)",
                "security": [{"session": []}, {"apiToken": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "Revoked", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["success"], "additionalProperties": false,
                    "properties": {"success": {"const": true}}}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/workers/ingestion": {
              "get": {
                "summary": "Rescue lost jobs, then run up to 3 INGEST_DATA jobs within the time budget",
                "security": [{"cronSecret": []}],
                "responses": {
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "200": {"description": "Run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerResponse"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "500": {"$ref": "#/components/responses/ServerError"}
                }
              }
            },
            "/api/workers/vectorization": {
              "get": {
                "summary": "Rescue lost jobs, then run up to 2 VECTORIZE jobs within the time budget",
                "security": [{"cronSecret": []}],
                "responses": {
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "200": {"description": "Run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkerResponse"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "500": {"$ref": "#/components/responses/ServerError"}
                }
              }
            },
            "/api/workers/cleanup": {
              "get": {
                "summary": "Delete COMPLETED and FAILED jobs older than the retention period (7 days)",
                "security": [{"cronSecret": []}],
                "responses": {
                  "403": {"$ref": "#/components/responses/Forbidden"},
                  "200": {"description": "Cleaned", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CleanupResponse"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "500": {"$ref": "#/components/responses/ServerError"}
                }
              }
            }
          }
        }
        """#
}
