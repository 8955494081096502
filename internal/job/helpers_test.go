package job_test

import (
	"fmt"

	"github.com/coop-diffusion/coop/adapters"
	"github.com/coop-diffusion/coop/internal/job"
)

func adaptersOptions(j *job.Job) adapters.LoadOptions {
	return adapters.LoadOptions{Session: j.SessionOptions()}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
