package service

import (
	"context"
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
	// versions and kinds never change either: a deployment's version, a
	// channel resource's kind.
	versions sync.Map // domain.DeploymentID -> domain.VersionID
	kinds    sync.Map // domain.ResourceID -> domain.ResourceKind
}

func newBotCache(engine *bot.Engine) *botCache {
	return &botCache{engine: engine, bots: map[domain.VersionID]*bot.Bot{}}
}

// versionOf returns the version a conversation runs: its deployment's, or
// its preview's.
func (c *botCache) versionOf(ctx context.Context, tx domain.Tx, conv domain.Conversation) (domain.VersionID, error) {
	if !conv.Deployed() {
		return conv.PreviewVersionID, nil
	}
	if v, ok := c.versions.Load(conv.DeploymentID); ok {
		return v.(domain.VersionID), nil
	}
	d, err := tx.GetDeployment(ctx, conv.OrgID, conv.DeploymentID)
	if err != nil {
		return "", err
	}
	c.versions.Store(d.ID, d.VersionID)
	return d.VersionID, nil
}

// resourceKind returns the kind of a channel resource.
func (c *botCache) resourceKind(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ResourceID) (domain.ResourceKind, error) {
	if k, ok := c.kinds.Load(id); ok {
		return k.(domain.ResourceKind), nil
	}
	r, err := tx.GetResource(ctx, org, id)
	if err != nil {
		return "", err
	}
	c.kinds.Store(id, r.Kind)
	return r.Kind, nil
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
func (c *botCache) load(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.VersionID) (*bot.Bot, error) {
	c.mu.Lock()
	b, ok := c.bots[id]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	v, err := tx.GetVersion(ctx, org, id)
	if err != nil {
		return nil, err
	}
	b, err = c.engine.Compile(v.Definition)
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
