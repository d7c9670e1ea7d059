"""Deploy health: metric sources (fetch), the pure judge, the lifecycle that judges deploys, incidents, pushed samples."""
