package service

import (
	"errors"
	"sync"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
)

// maxCachedBots bounds the compiled definitions kept in memory.
const maxCachedBots = 1024

// botCache compiles version definitions once: versions are immutable, so
// a compiled bot is good for as long as the process runs.
type botCache struct {
	engine *bot.Engine
	mu     sync.Mutex
	bots   map[domain.VersionID]*bot.Bot
}

func newBotCache(engine *bot.Engine) *botCache {
	return &botCache{engine: engine, bots: map[domain.VersionID]*bot.Bot{}}
}

// check compiles a definition. Errors: invalid_definition.
func (c *botCache) check(definition []byte) error {
	_, err := c.engine.Compile(definition)
	var p *bot.Problem
	if errors.As(err, &p) {
		return p.AsError()
	}
	return err
}

// load returns the compiled bot of a version. A definition stored before
// definitions were checked may fail: invalid_definition.
func (c *botCache) load(v domain.AppVersion) (*bot.Bot, error) {
	c.mu.Lock()
	b, ok := c.bots[v.ID]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := c.engine.Compile(v.Definition)
	var p *bot.Problem
	if errors.As(err, &p) {
		return nil, p.AsError()
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.bots) >= maxCachedBots {
		for id := range c.bots { // forget an arbitrary half
			if len(c.bots) < maxCachedBots/2 {
				break
			}
			delete(c.bots, id)
		}
	}
	c.bots[v.ID] = b
	c.mu.Unlock()
	return b, nil
}
