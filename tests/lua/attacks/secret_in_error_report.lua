-- attack: try to get a secret into the error report (tostring of the environment, task, arg)
-- env: AWS_SECRET_ACCESS_KEY=s3cr3t-err-value AWS_SESSION_TOKEN=sess-err-token
-- expect: exit=1 stderr~nil
error("secret: " .. tostring(os.getenv("AWS_SECRET_ACCESS_KEY")) .. " " .. json.encode(task.args))
