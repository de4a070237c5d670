"""The background job: export → features → train → evaluate → promote, in-process or on Celery workers."""
