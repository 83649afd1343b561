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

// Started is a new conversation with its session and customer, and what
// its bot's conversation_started turn sent.
type Started struct {
	Conversation domain.Conversation
	Session      domain.Session
	Customer     domain.Customer
	// First is the inbound message that started the conversation (a
	// channel's first message), nil when it was started through the API.
	First   *domain.Message
	Replies []domain.Message
}

// conversationStart is a validated start request (its identifier
// normalized); exactly one of deployment and preview is set.
type conversationStart struct {
	deployment *domain.Deployment
	preview    *domain.AppVersion
	Party
	// first, when set, is the inbound message that starts the
	// conversation: it is stored before the conversation_started turn,
	// which sees it as its input.
	first *inboundText
}

// inboundText is a customer's message as a channel received it.
type inboundText struct {
	text, clientID string
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
		if st, err = s.startOnDeployment(ctx, tx, org, in.DeploymentID, req); err != nil {
			return err
		}
		return s.answer(ctx, tx, st)
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
		if st, err = s.startConversation(ctx, tx, org, req); err != nil {
			return err
		}
		return s.answer(ctx, tx, st)
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
	destination, err := s.destination(res, req.CustomerDestination)
	if err != nil {
		return Started{}, err
	}
	identifier := req.CustomerIdentifier
	if identifier == "" && res.IdentifyBy == domain.IdentifyByDestination {
		if identifier, err = s.identifiers.Normalize("tel:" + destination); err != nil {
			return Started{}, err
		}
	}
	now := s.now()
	customer, err := s.customerFor(ctx, tx, org, identifier, now)
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
	// The destination's inbound messages now come to this conversation.
	if _, _, err := tx.GetRoute(ctx, org, res.ID, destination); err != nil {
		return Started{}, err
	}
	if err := tx.SetRoute(ctx, org, res.ID, destination, conv.ID); err != nil {
		return Started{}, err
	}
	err = tx.AppendEvent(ctx, domain.Event{
		OrgID: org, Type: domain.EventConversationStarted, Subject: string(conv.ID), CreatedAt: now,
		Payload: map[string]any{
			"conversationId": string(conv.ID), "customerId": string(customer.ID),
			"customerIdentifier": customer.Identifier, "deploymentId": string(conv.DeploymentID),
			"previewVersionId": string(conv.PreviewVersionID), "resourceId": string(res.ID),
			"preview": !conv.Deployed(), "customerDestination": destination,
		},
	})
	if err != nil {
		return Started{}, err
	}
	st := Started{Conversation: conv, Session: session, Customer: customer}
	return st, s.startTurn(ctx, tx, &st, req.first)
}

// startTurn stores the first inbound message, if any, and runs the bot's
// conversation_started turn, filling st's First, Replies and Conversation.
func (s *Service) startTurn(ctx context.Context, tx domain.Tx, st *Started, first *inboundText) error {
	ev := turnEvent{Trigger: TriggerConversationStarted}
	if first != nil {
		m, err := s.appendMessage(ctx, tx, st.Conversation, domain.AuthorCustomer, first.text, first.clientID)
		if err != nil {
			return err
		}
		st.First, ev.Message = &m, &m
	}
	out, err := s.runTurn(ctx, tx, st.Conversation, ev)
	if err != nil {
		return err
	}
	st.Conversation, st.Replies = out.Conversation, out.Replies
	return nil
}

// destination checks a customer destination on resource: an SMS
// destination is a phone number, normalized to E.164.
// Errors: invalid_argument.
func (s *Service) destination(res domain.ChannelResource, destination string) (string, error) {
	if res.Kind == domain.ResourceSMS {
		return s.phoneNumber("customerDestination", destination)
	}
	return destination, nil
}

// customerFor returns the current holder of identifier, or a new customer
// holding it ("" gives a new customer without an identifier). It locks the
// identifier until the transaction ends, so its holder cannot change
// before the conversation joining it commits (see updateIdentifier).
func (s *Service) customerFor(ctx context.Context, tx domain.Tx, org domain.OrgID, identifier string, now time.Time) (domain.Customer, error) {
	c := domain.Customer{ID: domain.CustomerID(s.ids.NewID("cus")), OrgID: org, CreatedAt: now}
	if identifier == "" {
		return c, tx.CreateCustomer(ctx, c)
	}
	if err := tx.LockKeys(ctx, org, domain.IdentifierKey(identifier)); err != nil {
		return domain.Customer{}, err
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
		return c, conversationNotFound(id)
	}
	return c, err
}

func conversationNotFound(id domain.ConversationID) *domain.Error {
	return domain.Errorf(domain.CodeConversationNotFound, "conversation %s not found", id).WithDetail("conversationId", string(id))
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
		if c, err = lockConversation(ctx, tx, org, id); err != nil {
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
