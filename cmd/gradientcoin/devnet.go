package main

import (
	"context"
	"errors"
)

func cmdDevnet(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("devnet: not wired yet")
}
