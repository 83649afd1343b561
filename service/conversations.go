package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Party is where and with whom a new conversation talks.
type Party struct {
	ResourceID          domain.ResourceID
	ExternalID          string // optional
	CustomerDestination string // phone number (sms) or web chat session id
	CustomerIdentifier  string // optional; normalized
}

// StartInput starts a conversation on a published deployment, with the
// semantics of the start_conversation_chat_bot action.
type StartInput struct {
	DeploymentID domain.DeploymentID
	Party
}

// PreviewInput starts a preview run of a version that need not be published.
type PreviewInput struct {
	VersionID domain.VersionID
	Party
}

// Started is a new conversation with its session and customer.
type Started struct {
	Conversation domain.Conversation
	Session      domain.Session
	Customer     domain.Customer
}

// conversationStart is a validated start request (its identifier
// normalized); exactly one of deployment and preview is set.
type conversationStart struct {
	deployment *domain.Deployment
	preview    *domain.AppVersion
	Party
}

// StartConversation starts a conversation on an active deployment.
// Errors: invalid_argument, identifier_invalid, not_deployed (deployment
// replaced by a later publish).
func (s *Service) StartConversation(ctx context.Context, org domain.OrgID, in StartInput) (st Started, err error) {
	req, err := s.checkStart("deploymentId", string(in.DeploymentID), in.Party)
	if err != nil {
		return Started{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		st, err = s.startOnDeployment(ctx, tx, org, in.DeploymentID, req)
		return err
	})
	return st, err
}

// StartPreview starts a preview run of a version. Data operations that are
// deployed-only answer not_deployed inside it.
// Errors: invalid_argument, identifier_invalid.
func (s *Service) StartPreview(ctx context.Context, org domain.OrgID, in PreviewInput) (st Started, err error) {
	req, err := s.checkStart("versionId", string(in.VersionID), in.Party)
	if err != nil {
		return Started{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		v, err := tx.GetVersion(ctx, org, in.VersionID)
		if domain.IsNotFound(err) {
			return invalidf("versionId %s does not name a version", in.VersionID)
		}
		if err != nil {
			return err
		}
		req.preview = &v
		st, err = s.startConversation(ctx, tx, org, req)
		return err
	})
	return st, err
}

// checkStart validates the inputs shared by every way to start.
func (s *Service) checkStart(targetField, target string, p Party) (conversationStart, error) {
	if err := checkID(targetField, target); err != nil {
		return conversationStart{}, err
	}
	if err := checkID("resourceId", string(p.ResourceID)); err != nil {
		return conversationStart{}, err
	}
	if err := checkText("externalId", p.ExternalID, maxTextLen, false); err != nil {
		return conversationStart{}, err
	}
	if p.CustomerDestination == "" {
		return conversationStart{}, invalidf("customerDestination is required")
	}
	if err := checkText("customerDestination", p.CustomerDestination, maxTextLen, false); err != nil {
		return conversationStart{}, err
	}
	if p.CustomerIdentifier != "" {
		norm, err := s.identifiers.Normalize(p.CustomerIdentifier)
		if err != nil {
			return conversationStart{}, err
		}
		p.CustomerIdentifier = norm
	}
	return conversationStart{Party: p}, nil
}

// startOnDeployment starts a conversation on an active deployment.
func (s *Service) startOnDeployment(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.DeploymentID, req conversationStart) (Started, error) {
	d, err := tx.GetDeployment(ctx, org, id)
	if domain.IsNotFound(err) {
		return Started{}, invalidf("deploymentId %s does not name a deployment", id)
	}
	if err != nil {
		return Started{}, err
	}
	if !d.Active() {
		return Started{}, domain.Errorf(domain.CodeNotDeployed, "deployment %s was replaced by a later publish to %s", id, d.Environment)
	}
	req.deployment = &d
	return s.startConversation(ctx, tx, org, req)
}

// startConversation creates the conversation, its session, and joins the
// identifier's current holder or creates a customer.
func (s *Service) startConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, req conversationStart) (Started, error) {
	res, err := tx.GetResource(ctx, org, req.ResourceID)
	if domain.IsNotFound(err) {
		return Started{}, invalidf("resourceId %s does not name a channel resource", req.ResourceID)
	}
	if err != nil {
		return Started{}, err
	}
	destination := req.CustomerDestination
	if res.Kind == domain.ResourceSMS {
		if destination, err = s.phoneNumber("customerDestination", destination); err != nil {
			return Started{}, err
		}
	}
	now := s.now()
	customer, err := s.customerFor(ctx, tx, org, req.CustomerIdentifier, now)
	if err != nil {
		return Started{}, err
	}
	// A conversation never starts before its customer's identifier
	// interval (another server's clock may be ahead of this one's).
	if customer.Identifier != "" {
		now = laterOf(now, customer.IdentifierSince)
	}
	conv := domain.Conversation{
		ID:                  domain.ConversationID(s.ids.NewID("conv")),
		OrgID:               org,
		ResourceID:          res.ID,
		CustomerID:          customer.ID,
		SessionID:           domain.SessionID(s.ids.NewID("ses")),
		Status:              domain.StatusLive,
		CustomerDestination: destination,
		ExternalID:          req.ExternalID,
		IdentifierAtStart:   customer.Identifier,
		StartedAt:           now,
	}
	if req.deployment != nil {
		conv.DeploymentID, conv.AppID = req.deployment.ID, req.deployment.AppID
	} else {
		conv.PreviewVersionID, conv.AppID = req.preview.ID, req.preview.AppID
	}
	session := domain.Session{
		ID: conv.SessionID, OrgID: org, ConversationID: conv.ID, UpdatedAt: now,
		Variables: map[string]any{reservedVariable: map[string]any{"message": map[string]any{
			"conversationId": string(conv.ID), "identifier": destination,
		}}},
	}
	if err := tx.CreateConversation(ctx, conv); err != nil {
		return Started{}, err
	}
	if err := tx.CreateSession(ctx, session); err != nil {
		return Started{}, err
	}
	err = tx.AppendEvent(ctx, domain.Event{
		OrgID: org, Type: domain.EventConversationStarted, Subject: string(conv.ID), CreatedAt: now,
		Payload: map[string]any{
			"customerId": string(customer.ID), "customerIdentifier": customer.Identifier,
			"deploymentId": string(conv.DeploymentID), "resourceId": string(res.ID), "preview": !conv.Deployed(),
		},
	})
	return Started{Conversation: conv, Session: session, Customer: customer}, err
}

// customerFor returns the current holder of identifier, or a new customer
// holding it ("" gives a new customer without an identifier).
func (s *Service) customerFor(ctx context.Context, tx domain.Tx, org domain.OrgID, identifier string, now time.Time) (domain.Customer, error) {
	c := domain.Customer{ID: domain.CustomerID(s.ids.NewID("cus")), OrgID: org, CreatedAt: now}
	if identifier == "" {
		return c, tx.CreateCustomer(ctx, c)
	}
	latest, found, err := tx.LatestInterval(ctx, org, identifier)
	if err != nil {
		return domain.Customer{}, err
	}
	if found && latest.ValidTo == nil {
		return tx.GetCustomer(ctx, org, latest.CustomerID)
	}
	since := now
	if found {
		since = laterOf(now, *latest.ValidTo)
	}
	c.Identifier, c.IdentifierSince = identifier, since
	if err := tx.CreateCustomer(ctx, c); err != nil {
		return domain.Customer{}, err
	}
	return c, tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: org, CustomerID: c.ID, Identifier: identifier, ValidFrom: since})
}

// GetConversation returns a conversation. Errors: conversation_not_found.
func (s *Service) GetConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (c domain.Conversation, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err = getConversation(ctx, tx, org, id)
		return err
	})
	return c, err
}

// getConversation maps a missing row to conversation_not_found.
func getConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	c, err := tx.GetConversation(ctx, org, id)
	if domain.IsNotFound(err) {
		return c, domain.Errorf(domain.CodeConversationNotFound, "conversation %s not found", id).WithDetail("conversationId", string(id))
	}
	return c, err
}

// MaxPageSize bounds list pages.
const MaxPageSize = 200

// ListConversations returns one page of conversations, newest first.
// Errors: invalid_argument (limit).
func (s *Service) ListConversations(ctx context.Context, org domain.OrgID, f domain.ConversationFilter) (cs []domain.Conversation, err error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	if f.Status != "" && f.Status != domain.StatusLive && f.Status != domain.StatusClosed {
		return nil, invalidf("status must be live or closed")
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		cs, err = tx.ListConversations(ctx, org, f)
		return err
	})
	return cs, err
}

// CloseConversation closes a live conversation.
// Errors: conversation_not_found, conversation_closed.
func (s *Service) CloseConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (c domain.Conversation, err error) {
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if c, err = getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		c, err = s.closeConversation(ctx, tx, c)
		return err
	})
	return c, err
}

// closeConversation closes c. Errors: conversation_closed.
func (s *Service) closeConversation(ctx context.Context, tx domain.Tx, c domain.Conversation) (domain.Conversation, error) {
	if c.Status == domain.StatusClosed {
		return c, closedError(c.ID)
	}
	now := s.now()
	if err := tx.CloseConversation(ctx, c.OrgID, c.ID, now); err != nil {
		return c, err
	}
	c.Status, c.ClosedAt = domain.StatusClosed, &now
	return c, tx.AppendEvent(ctx, domain.Event{
		OrgID: c.OrgID, Type: domain.EventConversationClosed, Subject: string(c.ID), CreatedAt: now,
		Payload: map[string]any{"customerId": string(c.CustomerID)},
	})
}
